import { INTERNAL_CONTEXT_HEADER, signInternalContext } from "@app/common";
import { sha256Hex } from "@app/common/persisted-documents";
import { createClient } from "graphql-ws";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import WebSocket from "ws";
import {
  CreateProjectDocument,
  MeDocument,
  PlansDocument,
  ProjectsDocument,
} from "../../schema/operations/generated/graphql.ts";
import { eventually } from "../../test/eventually.ts";
import { documentIdOf, gqlDocument, postGraphQL } from "../../test/persisted.ts";
import { gql, type Platform, signUpTenant, startGateway, startPlatform } from "../../test/platform.ts";

/**
 * Persisted operations end to end: the platform's trusted documents (schema/operations, by the hash
 * codegen gives them), operations an organization's ADMIN registers for its partners, automatic
 * persisted queries, and the policy that holds API keys (and, when configured, everyone) to them.
 */

type Tenant = Awaited<ReturnType<typeof signUpTenant>>;

const REGISTER = `mutation($input: RegisterOperationInput!) {
  registerOperation(input: $input) { operation { id name sha256Hash operationType document } }
}`;
const REGISTERED = `{ registeredOperations { name sha256Hash } }`;
const DELETE = `mutation($name: String!) { deleteRegisteredOperation(input: { name: $name }) { operation { name } } }`;
const CREATE_KEY = `mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { secret } }`;

const PARTNER_PROJECTS = "query PartnerProjects { projects(first: 5) { edges { node { id name } } } }";
const ARBITRARY = "{ projects { edges { node { id name key } } } }";

const codes = (res: { errors?: Array<{ extensions?: { code?: string } }> }) =>
  res.errors?.map((e) => e.extensions?.code);

let platform: Platform;
let a: Tenant;
let b: Tenant;
let aKey: string;
let bKey: string;

async function register(token: string, name: string, document: string, url = platform.gatewayUrl) {
  return gql(url, REGISTER, { token, variables: { input: { name, document } } });
}

async function createKey(token: string, scopes: string[]) {
  const res = await gql(platform.gatewayUrl, CREATE_KEY, {
    token,
    variables: { input: { name: "partner", scopes } },
  });
  if (!res.data) throw new Error(JSON.stringify(res.errors));
  return res.data.createApiKey.secret as string;
}

beforeAll(async () => {
  platform = await startPlatform(inject("databaseUrl"), { redisUrl: inject("redisUrl") || undefined });
  [a, b] = await Promise.all([
    signUpTenant(platform.gatewayUrl, "pq-a"),
    signUpTenant(platform.gatewayUrl, "pq-b"),
  ]);
  await gql(platform.gatewayUrl, `mutation { createProject(input: { name: "Alpha" }) { project { id } } }`, {
    token: a.token,
  });
  [aKey, bKey] = await Promise.all([createKey(a.token, ["WRITE"]), createKey(b.token, ["WRITE"])]);
  const registered = await register(a.token, "PartnerProjects", PARTNER_PROJECTS);
  expect(registered.errors).toBeUndefined();
});
afterAll(() => platform?.close());

describe("trusted documents", () => {
  it("run by the hash codegen embedded in the typed document, typed end to end", async () => {
    const me = await gqlDocument(platform.gatewayUrl, MeDocument, { token: a.token });
    expect(me.errors).toBeUndefined();
    expect(me.data?.me?.id).toBe(a.userId);
    const plans = await gqlDocument(platform.gatewayUrl, PlansDocument);
    expect(plans.data?.plans.map((p) => p.code)).toContain("FREE");
    // By GET too, so a CDN can cache it.
    const url = new URL(platform.gatewayUrl);
    url.searchParams.set("documentId", documentIdOf(PlansDocument));
    const get = await fetch(url, { headers: { "x-graphql-yoga-csrf": "1" } });
    expect(get.status).toBe(200);
    expect(((await get.json()) as { data: { plans: unknown[] } }).data.plans.length).toBeGreaterThan(0);
  });

  it("an unknown or malformed documentId is refused with a code saying so", async () => {
    const unknown = await postGraphQL(platform.gatewayUrl, { documentId: `sha256:${"0".repeat(64)}` });
    expect(unknown.status).toBe(404);
    expect(codes(unknown)).toEqual(["PERSISTED_QUERY_NOT_FOUND"]);
    for (const documentId of ["sha256:xyz", 42, "not a name!", `sha256:${"A".repeat(64)}`]) {
      const bad = await postGraphQL(platform.gatewayUrl, { documentId });
      expect(bad.status, String(documentId)).toBe(400);
      expect(codes(bad)).toEqual(["BAD_REQUEST"]);
      expect(bad.errors?.[0]?.message).toContain("documentId");
    }
    const both = await postGraphQL(platform.gatewayUrl, {
      documentId: documentIdOf(PlansDocument),
      query: "{ plans { code } }",
    });
    expect(codes(both)).toEqual(["BAD_REQUEST"]);
  });
});

describe("registered operations", () => {
  it("are registered by an ADMIN, listed, recorded in the audit trail, and checked against the supergraph", async () => {
    const listed = await gql(platform.gatewayUrl, REGISTERED, { token: a.token });
    expect(listed.data?.registeredOperations).toEqual([
      { name: "PartnerProjects", sha256Hash: sha256Hex(PARTNER_PROJECTS) },
    ]);
    const event = await platform.prisma.outboxEvent.findFirstOrThrow({
      where: { tenantId: a.tenantId, topic: "registered_operation.created" },
    });
    expect(event.payload).toMatchObject({ name: "PartnerProjects", createdBy: a.userId });

    const unknownField = await register(a.token, "Broken", "query Broken { projects { nope } }");
    expect(codes(unknownField)).toEqual(["BAD_USER_INPUT"]);
    expect(unknownField.errors?.[0]?.message).toMatch(
      /^input\.document: Cannot query field "nope" on type "ProjectConnection".*\(at 1:27\)/,
    );
    const syntax = await register(a.token, "Broken", "query {");
    expect(syntax.errors?.[0]?.message).toMatch(/^input\.document: Syntax Error/);
    const two = await register(a.token, "Two", "query A { plans { code } } query B { plans { name } }");
    expect(two.errors?.[0]?.message).toContain("exactly one operation");
    const badName = await register(a.token, "has space", "{ plans { code } }");
    expect(badName.errors?.[0]?.message).toMatch(/^input\.name: /);
    const sameName = await register(a.token, "PartnerProjects", "{ plans { code } }");
    expect(sameName.errors?.[0]?.message).toBe(
      "input.name: is already registered: delete it first to replace it",
    );
    const sameDocument = await register(a.token, "Again", PARTNER_PROJECTS);
    expect(sameDocument.errors?.[0]?.message).toBe(
      "input.document: is already registered as PartnerProjects",
    );
  });

  it("are for signed-in ADMINs only: not members, not API keys (even through a registered mutation)", async () => {
    expect(codes(await register(aKey, "ByKey", "{ plans { code } }"))).toEqual(["PERSISTED_QUERY_ONLY"]);
    // An ADMIN registers the registering mutation itself for its key: the key still may not register.
    const escalation = `mutation Escalate($input: RegisterOperationInput!) { registerOperation(input: $input) { operation { id } } }`;
    expect((await register(a.token, "Escalate", escalation)).errors).toBeUndefined();
    const viaKey = await postGraphQL(
      platform.gatewayUrl,
      { documentId: "Escalate", variables: { input: { name: "Sneaky", document: ARBITRARY } } },
      aKey,
    );
    expect(codes(viaKey)).toEqual(["FORBIDDEN"]);
    expect(codes(await gql(platform.gatewayUrl, REGISTERED))).toEqual(["UNAUTHENTICATED"]);
    // A MEMBER (signed by the gateway as it would for a member's token) is refused by the subgraph.
    const member = await signInternalContext(platform.internalSecret, {
      requestId: "pq-member",
      principal: { tenantId: a.tenantId, userId: a.userId, roles: ["MEMBER"] },
    });
    const byMember = await gql(platform.subgraphUrls.tenants, REGISTER, {
      headers: { [INTERNAL_CONTEXT_HEADER]: member },
      variables: { input: { name: "ByMember", document: "{ plans { code } }" } },
    });
    expect(codes(byMember)).toEqual(["FORBIDDEN"]);
  });

  it("the gateway's lookup field is not part of the public API, and the subgraph wants the signed context", async () => {
    const res = await gql(
      platform.gatewayUrl,
      `{ registeredOperationDocument(name: "PartnerProjects") { document } }`,
      {
        token: a.token,
      },
    );
    expect(codes(res)).toEqual(["GRAPHQL_VALIDATION_FAILED"]);
    const direct = await fetch(platform.subgraphUrls.tenants, {
      method: "POST",
      headers: { "content-type": "application/json", [INTERNAL_CONTEXT_HEADER]: "forged" },
      body: JSON.stringify({
        query: `{ registeredOperationDocument(name: "PartnerProjects") { document } }`,
      }),
    });
    expect(direct.status).toBe(401);
  });
});

describe("API keys run persisted operations only", () => {
  it("a partner key runs its organization's registered operation by name, hash or text", async () => {
    for (const body of [
      { documentId: "PartnerProjects" },
      { documentId: `sha256:${sha256Hex(PARTNER_PROJECTS)}` },
      { extensions: { persistedQuery: { version: 1, sha256Hash: sha256Hex(PARTNER_PROJECTS) } } },
      { query: PARTNER_PROJECTS },
    ]) {
      const res = await postGraphQL<{ projects: { edges: Array<{ node: { name: string } }> } }>(
        platform.gatewayUrl,
        body,
        aKey,
      );
      expect(res.errors, JSON.stringify(body)).toBeUndefined();
      expect(res.data?.projects.edges.map((e) => e.node.name)).toEqual(["Alpha"]);
    }
  });

  it("and the platform's trusted documents", async () => {
    const res = await gqlDocument(platform.gatewayUrl, CreateProjectDocument, {
      token: aKey,
      variables: { input: { name: "By partner" } },
    });
    expect(res.errors).toBeUndefined();
    expect(res.data?.createProject.project.name).toBe("By partner");
  });

  it("is refused an arbitrary operation, before any subgraph is called", async () => {
    const calls = platform.subgraphCalls.length;
    const res = await gql(platform.gatewayUrl, ARBITRARY, { token: aKey });
    expect(res.status).toBe(403);
    expect(codes(res)).toEqual(["PERSISTED_QUERY_ONLY"]);
    expect(res.errors?.[0]?.message).toContain("registered");
    expect(res.data ?? null).toBeNull();
    expect(platform.subgraphCalls.slice(calls).filter((c) => c.subgraph === "projects")).toEqual([]);
    // Nor can it slip one in through APQ registration.
    const apq = await postGraphQL(
      platform.gatewayUrl,
      { query: ARBITRARY, extensions: { persistedQuery: { version: 1, sha256Hash: sha256Hex(ARBITRARY) } } },
      aKey,
    );
    expect(codes(apq)).toEqual(["PERSISTED_QUERY_ONLY"]);
  });

  it("a gateway looks a registered operation up once, however many ask for it at the same time", async () => {
    const gateway = await startGateway(platform, {});
    try {
      const before = platform.subgraphCalls.filter((c) => c.subgraph === "tenants").length;
      const answers = await Promise.all(
        Array.from({ length: 10 }, () => postGraphQL(gateway.url, { documentId: "PartnerProjects" }, aKey)),
      );
      expect(answers.map((a) => a.errors)).toEqual(Array(10).fill(undefined));
      const lookups = platform.subgraphCalls.filter((c) => c.subgraph === "tenants").length - before;
      expect(lookups).toBe(1);
    } finally {
      await gateway.close();
    }
  });

  it("never runs another organization's registered operation", async () => {
    const byName = await postGraphQL(platform.gatewayUrl, { documentId: "PartnerProjects" }, bKey);
    expect(codes(byName)).toEqual(["PERSISTED_QUERY_NOT_FOUND"]);
    const byText = await gql(platform.gatewayUrl, PARTNER_PROJECTS, { token: bKey });
    expect(codes(byText)).toEqual(["PERSISTED_QUERY_ONLY"]);
    const anonymous = await postGraphQL(platform.gatewayUrl, { documentId: "PartnerProjects" });
    expect(codes(anonymous)).toEqual(["PERSISTED_QUERY_NOT_FOUND"]);
  });

  it("a deleted operation stops running once the cache lets it go", async () => {
    // A gateway caching registered operations for 1 s (the default is 30 s).
    const gateway = await startGateway(platform, { REGISTERED_OPERATIONS_CACHE_SECONDS: "1" });
    try {
      expect((await register(a.token, "Doomed", "query Doomed { plans { code } }")).errors).toBeUndefined();
      expect((await postGraphQL(gateway.url, { documentId: "Doomed" }, aKey)).errors).toBeUndefined();
      const deleted = await gql(platform.gatewayUrl, DELETE, {
        token: a.token,
        variables: { name: "Doomed" },
      });
      expect(
        await platform.prisma.outboxEvent.count({
          where: { tenantId: a.tenantId, topic: "registered_operation.deleted" },
        }),
      ).toBe(1);
      expect(deleted.data?.deleteRegisteredOperation.operation.name).toBe("Doomed");
      const refused = await eventually(
        () => postGraphQL(gateway.url, { documentId: "Doomed" }, aKey),
        (res) => res.errors !== undefined,
        5_000,
      );
      expect(codes(refused)).toEqual(["PERSISTED_QUERY_NOT_FOUND"]);
    } finally {
      await gateway.close();
    }
  });
});

describe("over WebSocket", () => {
  /** One operation over graphql-ws with `token` in connection_init; resolves with what came back. */
  async function overWebSocket(token: string, payload: Record<string, unknown>) {
    const client = createClient({
      url: platform.gatewayWsUrl,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      connectionParams: { Authorization: `Bearer ${token}` },
    });
    try {
      return await new Promise<{ data?: unknown; errors?: Array<{ extensions?: { code?: string } }> }>(
        (resolve) => {
          client.subscribe(payload as never, {
            next: (value) => resolve(value as never),
            error: (errors) => resolve({ errors: errors as never }),
            complete: () => {},
          });
        },
      );
    } finally {
      await client.dispose();
    }
  }

  it("an API key runs persisted operations only there too", async () => {
    const trusted = await overWebSocket(aKey, {
      query: "",
      extensions: { persistedQuery: { version: 1, sha256Hash: documentIdOf(PlansDocument).slice(7) } },
    });
    expect(trusted.errors).toBeUndefined();
    expect((trusted.data as { plans: unknown[] }).plans.length).toBeGreaterThan(0);
    const registered = await overWebSocket(aKey, { query: "", documentId: "PartnerProjects" });
    expect(registered.errors).toBeUndefined();
    const arbitrary = await overWebSocket(aKey, {
      query: 'subscription { taskChanged(projectId: "00000000-0000-7000-8000-000000000000") { kind } }',
    });
    expect(codes(arbitrary)).toEqual(["PERSISTED_QUERY_ONLY"]);
  });
});

describe("automatic persisted queries", () => {
  it("hash miss, then hash and query, then hash alone", async () => {
    const query = `query Apq { me { id email } } # ${Date.now()}`;
    const sha256Hash = sha256Hex(query);
    const extensions = { persistedQuery: { version: 1, sha256Hash } };

    const miss = await postGraphQL(platform.gatewayUrl, { extensions }, a.token);
    expect(miss.status).toBe(404);
    expect(codes(miss)).toEqual(["PERSISTED_QUERY_NOT_FOUND"]);
    expect(miss.errors?.[0]?.message).toBe("PersistedQueryNotFound");

    const registered = await postGraphQL(platform.gatewayUrl, { query, extensions }, a.token);
    expect(registered.errors).toBeUndefined();
    expect(registered.data).toEqual({ me: { id: a.userId, email: a.email } });

    const hit = await postGraphQL(platform.gatewayUrl, { extensions }, a.token);
    expect(hit.errors).toBeUndefined();
    expect(hit.data).toEqual({ me: { id: a.userId, email: a.email } });

    // Over GET too (the point of APQ: cacheable URLs).
    const url = new URL(platform.gatewayUrl);
    url.searchParams.set("extensions", JSON.stringify(extensions));
    const get = await fetch(url, {
      headers: { authorization: `Bearer ${a.token}`, "content-type": "application/json" },
    });
    expect(((await get.json()) as { data: unknown }).data).toEqual({ me: { id: a.userId, email: a.email } });
  });

  it("refuses a query that does not have the hash it came with", async () => {
    const res = await postGraphQL(
      platform.gatewayUrl,
      {
        query: "{ plans { code } }",
        extensions: { persistedQuery: { version: 1, sha256Hash: "a".repeat(64) } },
      },
      a.token,
    );
    expect(res.status).toBe(400);
    expect(codes(res)).toEqual(["PERSISTED_QUERY_MISMATCH"]);
  });

  it.runIf(inject("redisUrl"))("share one Redis store between gateways", async () => {
    const query = `query Shared { plans { code } } # ${Date.now()}`;
    const extensions = { persistedQuery: { version: 1, sha256Hash: sha256Hex(query) } };
    expect((await postGraphQL(platform.gatewayUrl, { query, extensions })).errors).toBeUndefined();
    const other = await startGateway(platform, {});
    try {
      const res = await postGraphQL<{ plans: unknown[] }>(other.url, { extensions });
      expect(res.errors).toBeUndefined();
      expect(res.data?.plans.length).toBeGreaterThan(0);
    } finally {
      await other.close();
    }
  });
});

describe("PERSISTED_OPERATIONS=persisted-only", () => {
  it("holds browsers to trusted and registered documents too", async () => {
    const gateway = await startGateway(platform, { PERSISTED_OPERATIONS: "persisted-only" });
    try {
      const arbitrary = await gql(gateway.url, "{ me { id } }", { token: a.token });
      expect(codes(arbitrary)).toEqual(["PERSISTED_QUERY_ONLY"]);
      const anonymous = await gql(gateway.url, "{ plans { code } }");
      expect(codes(anonymous)).toEqual(["PERSISTED_QUERY_ONLY"]);
      const apq = await postGraphQL(gateway.url, {
        query: "{ plans { code } }",
        extensions: { persistedQuery: { version: 1, sha256Hash: sha256Hex("{ plans { code } }") } },
      });
      expect(codes(apq)).toEqual(["PERSISTED_QUERY_ONLY"]);

      const trusted = await gqlDocument(gateway.url, ProjectsDocument, { token: a.token });
      expect(trusted.errors).toBeUndefined();
      const registered = await postGraphQL(gateway.url, { documentId: "PartnerProjects" }, a.token);
      expect(registered.errors).toBeUndefined();
    } finally {
      await gateway.close();
    }
  });
});
