import type { Resolvers } from "../../generated/resolvers.ts";
import { deleteMyAccount } from "./account.service.ts";
import { cancelOrganizationDeletion, deleteOrganization } from "./deletion.service.ts";
import { downloadUrl, exportOrganization, organizationExports } from "./exports.service.ts";

export const gdprResolvers: Resolvers = {
  Query: {
    organizationExports: (_parent, { first }, ctx) => organizationExports(ctx, first),
  },
  Mutation: {
    exportOrganization: (_parent, _args, ctx) => exportOrganization(ctx),
    deleteOrganization: (_parent, { input }, ctx) => deleteOrganization(ctx, input),
    cancelOrganizationDeletion: (_parent, _args, ctx) => cancelOrganizationDeletion(ctx),
    deleteMyAccount: (_parent, { input }, ctx) => deleteMyAccount(ctx, input),
  },
  OrganizationExport: {
    byteSize: (row) => (row.byteSize === null ? null : Number(row.byteSize)),
    downloadUrl: (row, _args, ctx) => downloadUrl(ctx, row),
  },
};
