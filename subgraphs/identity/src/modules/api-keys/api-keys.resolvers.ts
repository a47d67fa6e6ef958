import type { Resolvers } from "../../generated/resolvers.ts";
import { createApiKey, listApiKeys, revokeApiKey } from "./api-keys.service.ts";
import type { ApiKeyRevocations } from "./revocations.ts";

export function apiKeyResolvers(revocations: ApiKeyRevocations): Resolvers {
  return {
    Query: {
      apiKeys: (_parent, { includeRevoked }, ctx) => listApiKeys(ctx, includeRevoked ?? false),
    },
    Mutation: {
      createApiKey: (_parent, { input }, ctx) => createApiKey(ctx, input),
      revokeApiKey: (_parent, { id }, ctx) => revokeApiKey(ctx, revocations, id),
    },
  };
}
