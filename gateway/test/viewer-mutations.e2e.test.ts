import { randomUUID } from "node:crypto";
import { loadApiSchema } from "@app/common/supergraph";
import {
  type GraphQLArgument,
  type GraphQLInputType,
  getNamedType,
  isEnumType,
  isInputObjectType,
  isLeafType,
  isListType,
  isNonNullType,
  isScalarType,
} from "graphql";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { gql, type Platform, signUpTenant, startPlatform, uniqueEmail } from "../../test/platform.ts";

/**
 * A VIEWER cannot run any mutation. The list is every mutation of the committed supergraph, so a
 * mutation added later is covered without touching this file: it must refuse a VIEWER with FORBIDDEN,
 * or be added to VIEWER_MAY_RUN below with the reason a read-only member may run it.
 */

/** Mutations about the caller's own account or session, not the organization's data. */
const VIEWER_MAY_RUN: Record<string, string> = {
  signUp: "creates a new account and organization, not a change to this one",
  logIn: "credentials, not organization data",
  refreshToken: "the caller's own session",
  logOut: "the caller's own session",
  completeLogIn: "the second step of the caller's own log-in",
  changePassword: "the caller's own account",
  updateProfile: "the caller's own display name",
  requestPasswordReset: "anyone, signed in or not, for an address",
  resetPassword: "the holder of an e-mailed token",
  sendEmailVerification: "the caller's own address",
  verifyEmail: "the holder of an e-mailed token",
  acceptInvitation: "the invitee joins another organization",
  switchOrganization: "a token for another of the caller's own memberships",
  enrollTotp: "the caller's own second factor",
  confirmTotp: "the caller's own second factor",
  disableTotp: "the caller's own second factor",
  regenerateRecoveryCodes: "the caller's own second factor",
  createOrganization: "a new organization the caller will own, not a change to this one",
  deleteMyAccount: "the caller's own account (refused while they are a sole OWNER)",
};

/** A value GraphQL accepts for `type`: required input fields only, names hinting at what they hold. */
function plausible(type: GraphQLInputType, name: string): unknown {
  if (isNonNullType(type)) return plausible(type.ofType, name);
  if (isListType(type)) return [plausible(type.ofType, name)];
  if (isEnumType(type)) return type.getValues()[0]!.value;
  if (isInputObjectType(type)) {
    return Object.fromEntries(
      Object.values(type.getFields())
        .filter((f) => isNonNullType(f.type) && f.defaultValue === undefined)
        .map((f) => [f.name, plausible(f.type, f.name)]),
    );
  }
  if (isScalarType(type)) {
    switch (type.name) {
      case "ID":
        return randomUUID();
      case "Int":
      case "Float":
        return 1;
      case "Boolean":
        return true;
      case "DateTime":
        return new Date(Date.now() + 86_400_000).toISOString();
      default:
        if (/email/i.test(name)) return uniqueEmail("viewer-probe");
        if (/password/i.test(name)) return "a plausible long passphrase";
        if (/slug/i.test(name)) return `probe-${randomUUID().slice(0, 8)}`;
        if (/domain/i.test(name)) return "probe.example.test";
        return "viewer probe";
    }
  }
  throw new Error(`no plausible value for ${String(type)}`);
}

/** `mutation($a: T!, ...) { field(a: $a, ...) { __typename } }` with plausible variables. */
function probe(field: string, args: readonly GraphQLArgument[], returnsLeaf: boolean) {
  const required = args.filter((a) => isNonNullType(a.type) && a.defaultValue === undefined);
  const params = required.map((a) => `$${a.name}: ${String(a.type)}`).join(", ");
  const call = required.map((a) => `${a.name}: $${a.name}`).join(", ");
  const query = `mutation${params ? `(${params})` : ""} { ${field}${call ? `(${call})` : ""}${returnsLeaf ? "" : " { __typename }"} }`;
  const variables = Object.fromEntries(required.map((a) => [a.name, plausible(a.type, a.name)]));
  return { query, variables };
}

const mutations = Object.values(loadApiSchema().getMutationType()!.getFields());

let platform: Platform;
let viewer: { token: string };

beforeAll(async () => {
  platform = await startPlatform(inject("databaseUrl"));
  const owner = await signUpTenant(platform.gatewayUrl, "viewer-owner");
  const email = uniqueEmail("viewer");
  const invited = await gql(
    platform.gatewayUrl,
    `mutation($email: String!) { inviteMember(input: { email: $email, role: VIEWER }) { invitation { id } } }`,
    { token: owner.token, variables: { email } },
  );
  const invitationId = invited.data!.inviteMember.invitation.id as string;
  const event = await platform.prisma.outboxEvent.findFirstOrThrow({
    where: { topic: "invitation.sent", payload: { path: ["invitationId"], equals: invitationId } },
  });
  const accepted = await gql(
    platform.gatewayUrl,
    `mutation($input: AcceptInvitationInput!) { acceptInvitation(input: $input) { accessToken user { role } } }`,
    {
      variables: {
        input: { token: (event.payload as { token: string }).token, password: "a viewer's long passphrase" },
      },
    },
  );
  expect(accepted.data?.acceptInvitation.user.role).toBe("VIEWER");
  viewer = { token: accepted.data!.acceptInvitation.accessToken };
});
afterAll(() => platform?.close());

describe("a VIEWER cannot run any mutation", () => {
  it("finds the supergraph's mutations, and every exemption names one", () => {
    expect(mutations.length).toBeGreaterThan(20);
    const names = mutations.map((m) => m.name);
    expect(Object.keys(VIEWER_MAY_RUN).filter((name) => !names.includes(name))).toEqual([]);
  });

  it.each(mutations.filter((m) => !(m.name in VIEWER_MAY_RUN)).map((m) => [m.name, m] as const))(
    "%s answers FORBIDDEN",
    async (_name, mutation) => {
      const { query, variables } = probe(
        mutation.name,
        mutation.args,
        isLeafType(getNamedType(mutation.type)),
      );
      const res = await gql(platform.gatewayUrl, query, { token: viewer.token, variables });
      expect(res.data?.[mutation.name] ?? null, JSON.stringify(res.errors)).toBeNull();
      expect(res.errors?.[0]?.extensions?.code, `${query} ${JSON.stringify(res.errors)}`).toBe("FORBIDDEN");
    },
  );
});
