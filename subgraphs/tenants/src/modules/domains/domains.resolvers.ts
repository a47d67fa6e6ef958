import type { Resolvers } from "../../generated/resolvers.ts";
import {
  addOrganizationDomain,
  organizationDomains,
  removeOrganizationDomain,
  verificationRecord,
  verifyOrganizationDomain,
} from "./domains.service.ts";

export const domainResolvers: Resolvers = {
  Mutation: {
    addOrganizationDomain: (_parent, { input }, ctx) => addOrganizationDomain(ctx, input),
    verifyOrganizationDomain: (_parent, { input }, ctx) => verifyOrganizationDomain(ctx, input),
    removeOrganizationDomain: (_parent, { input }, ctx) => removeOrganizationDomain(ctx, input),
  },
  Organization: {
    domains: (organization, _args, ctx) => organizationDomains(ctx, organization),
  },
  OrganizationDomain: {
    verified: (domain) => domain.verifiedAt !== null,
    verificationRecord: (domain) => verificationRecord(domain),
  },
};
