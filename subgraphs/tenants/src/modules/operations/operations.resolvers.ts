import { loadApiSchema } from "@app/common/supergraph";
import type { GraphQLSchema } from "graphql";
import type { Resolvers } from "../../generated/resolvers.ts";
import {
  deleteRegisteredOperation,
  registeredOperationDocument,
  registeredOperations,
  registerOperation,
} from "./operations.service.ts";

/** `supergraphPath`: the supergraph registered documents are checked against, read at first use. */
export function createOperationResolvers(supergraphPath: string): Resolvers {
  let apiSchema: GraphQLSchema | undefined;
  const schema = () => {
    apiSchema ??= loadApiSchema(supergraphPath);
    return apiSchema;
  };
  return {
    Query: {
      registeredOperations: (_parent, _args, ctx) => registeredOperations(ctx),
      registeredOperationDocument: (_parent, args, ctx) => registeredOperationDocument(ctx, args),
    },
    Mutation: {
      registerOperation: (_parent, { input }, ctx) => registerOperation(ctx, input, schema()),
      deleteRegisteredOperation: (_parent, { input }, ctx) => deleteRegisteredOperation(ctx, input),
    },
  };
}
