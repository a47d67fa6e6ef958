import { readFileSync } from "node:fs";
import { INTERNAL_CONTEXT_HEADER, listen, signInternalContext } from "@app/common";
import { generateApiKey } from "@app/common/api-key";
import { newId } from "@app/db";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { WebSocket } from "ws";
import { eventually } from "../../test/eventually.ts";
import { gql, type Platform, signUpTenant, startGateway, startPlatform } from "../../test/platform.ts";
import { createGatewayApp } from "../src/app.ts";
import { gatewayEnv } from "../src/env.ts";

/**
 * Partner API keys end to end: created, listed and revoked through the gateway, used as bearer
 * credentials, refused when read-only for mutations, confined to their own tenant, and refused soon
 * after revocation (at once where Redis carries the revocation, within the cache lifetime without it).
 */

type Tenant = Awaited<ReturnType<typeof signUpTenant>>;

const CREATE_KEY = `mutation($input: CreateApiKeyInput!) {
  createApiKey(input: $input) { secret apiKey { id name scopes hint createdById expiresAt revokedAt lastUsedAt } }
}`;
const API_KEYS = `query($all: Boolean) { apiKeys(includeRevoked: $all) { id name scopes hint revokedAt lastUsedAt } }`;
const REVOKE_KEY = `mutation($id: ID!) { revokeApiKey(id: $id) { id revokedAt } }`;
const CREATE_PROJECT = `mutation($name: String!) { createProject(input: { name: $name }) { project { id key } } }`;

/** The platform's trusted documents by operation name: API keys may run persisted operations only. */
const manifest = JSON.parse(
  readFileSync(
    new URL("../../schema/operations/generated/persisted-documents.json", import.meta.url),
    "utf8",
  ),
) as Record<string, string>;
function documentId(name: string): string {
  const found = Object.entries(manifest).find(([, doc]) =>
    new RegExp(`(query|mutation|subscription) ${name}\\b`).test(doc),
  );
  if (!found) throw new Error(`no trusted document ${name}`);
  return found[0];
}

/** Runs a trusted document by id with a bearer credential. */
async function run(
  url: string,
  name: string,
  token: string,
  variables?: Record<string, unknown>,
  // biome-ignore lint/suspicious/noExplicitAny: tests read response shapes they assert on themselves
): Promise<any> {
  const response = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/graphql-response+json, application/json",
      authorization: `Bearer ${token}`,
    },
    body: JSON.stringify({ documentId: documentId(name), variables }),
  });
  return response.json();
}
const currentOrganization = (url: string, token: string) => run(url, "CurrentOrganization", token);

const redisUrl = inject("redisUrl");
let platform: Platform;
let a: Tenant;
let b: Tenant;
let bProject: { id: string; key: string };

const codes = (res: { errors?: Array<{ extensions?: { code?: string } }> }) =>
  res.errors?.map((e) => e.extensions?.code);

async function createKey(
  token: string,
  input: { name?: string; scopes: string[]; expiresAt?: string },
  url = platform.gatewayUrl,
) {
  const res = await gql(url, CREATE_KEY, { token, variables: { input: { name: "partner", ...input } } });
  if (res.errors) throw new Error(JSON.stringify(res.errors));
  return res.data!.createApiKey as { secret: string; apiKey: { id: string; hint: string } };
}

beforeAll(async () => {
  // A long cache lifetime: a revocation seen within seconds can only have come by the publish path.
  platform = await startPlatform(inject("databaseUrl"), {
    redisUrl: redisUrl || undefined,
    gateway: { AUTH_CACHE_TTL_SECONDS: "60" },
  });
  [a, b] = await Promise.all([
    signUpTenant(platform.gatewayUrl, "keys-a"),
    signUpTenant(platform.gatewayUrl, "keys-b"),
  ]);
  const created = await gql(platform.gatewayUrl, CREATE_PROJECT, {
    token: b.token,
    variables: { name: "B only" },
  });
  bProject = created.data!.createProject.project;
});
afterAll(() => platform?.close());

describe("managing keys", () => {
  it("creates a key whose secret is shown once, lists it without the secret, revokes it", async () => {
    const { secret, apiKey } = await createKey(a.token, { name: "CI", scopes: ["READ"] });
    expect(secret).toMatch(/^cdt_[A-Za-z0-9_-]{86}$/);
    expect(apiKey).toMatchObject({ name: "CI", scopes: ["READ"], createdById: a.userId, revokedAt: null });
    expect(apiKey.hint).toBe(`cdt_…${secret.slice(-4)}`);

    const listed = await gql(platform.gatewayUrl, API_KEYS, { token: a.token });
    expect(listed.data?.apiKeys.map((k: { id: string }) => k.id)).toContain(apiKey.id);
    expect(JSON.stringify(listed)).not.toContain(secret.slice(4, 40));

    const revoked = await gql(platform.gatewayUrl, REVOKE_KEY, {
      token: a.token,
      variables: { id: apiKey.id },
    });
    expect(revoked.data?.revokeApiKey.revokedAt).toBeTruthy();
    const active = await gql(platform.gatewayUrl, API_KEYS, { token: a.token });
    expect(active.data?.apiKeys.map((k: { id: string }) => k.id)).not.toContain(apiKey.id);
    const all = await gql(platform.gatewayUrl, API_KEYS, { token: a.token, variables: { all: true } });
    expect(all.data?.apiKeys.map((k: { id: string }) => k.id)).toContain(apiKey.id);
  });

  it("WRITE implies READ; bad input names the field", async () => {
    const { apiKey } = await createKey(a.token, { scopes: ["WRITE"] });
    expect(apiKey).toMatchObject({ scopes: ["READ", "WRITE"] });
    const past = await gql(platform.gatewayUrl, CREATE_KEY, {
      token: a.token,
      variables: { input: { name: "old", scopes: ["READ"], expiresAt: "2020-01-01T00:00:00Z" } },
    });
    expect(codes(past)).toEqual(["BAD_USER_INPUT"]);
    expect(past.errors?.[0]?.message).toContain("input.expiresAt");
    const none = await gql(platform.gatewayUrl, CREATE_KEY, {
      token: a.token,
      variables: { input: { name: "none", scopes: [] } },
    });
    expect(none.errors?.[0]?.message).toContain("input.scopes");
  });

  it("is for ADMIN+ users only: not anonymous, not another tenant's admin", async () => {
    expect(codes(await gql(platform.gatewayUrl, API_KEYS))).toEqual(["UNAUTHENTICATED"]);
    // B cannot revoke A's key: it is not found in B's organization.
    const { apiKey } = await createKey(a.token, { scopes: ["READ"] });
    const cross = await gql(platform.gatewayUrl, REVOKE_KEY, {
      token: b.token,
      variables: { id: apiKey.id },
    });
    expect(codes(cross)).toEqual(["NOT_FOUND"]);
  });

  it("cannot be done with an API key, even one the gateway let through", async () => {
    // The gateway holds keys to persisted operations; identity refuses on its own as well. An ADMIN
    // principal with an apiKey credential (which the gateway never builds) is still refused.
    const context = await signInternalContext(platform.internalSecret, {
      requestId: "keys-manage-keys",
      principal: {
        tenantId: a.tenantId,
        userId: a.userId,
        roles: ["ADMIN"],
        credential: "apiKey",
        scopes: ["read", "write"],
      },
    });
    const direct = await gql(platform.subgraphUrls.identity, CREATE_KEY, {
      headers: { [INTERNAL_CONTEXT_HEADER]: context },
      variables: { input: { name: "child", scopes: ["WRITE"] } },
    });
    expect(codes(direct)).toEqual(["FORBIDDEN"]);
  });
});

describe("authenticating with a key", () => {
  it("acts in its organization; a READ key may query but no mutation runs", async () => {
    const { secret } = await createKey(a.token, { scopes: ["READ"] });
    const org = await currentOrganization(platform.gatewayUrl, secret);
    expect(org.errors).toBeUndefined();
    expect(org.data?.currentOrganization.id).toBe(a.tenantId);

    const callsBefore = platform.subgraphCalls.length;
    const mutation = await run(platform.gatewayUrl, "CreateProject", secret, { input: { name: "x" } });
    expect(codes(mutation)).toEqual(["FORBIDDEN"]);
    expect(mutation.data ?? null).toBeNull();
    // Refused at the gateway: no subgraph saw the mutation.
    expect(platform.subgraphCalls.slice(callsBefore).some((c) => c.subgraph === "projects")).toBe(false);
  });

  it("a WRITE key runs mutations; its last use is recorded", async () => {
    const { secret, apiKey } = await createKey(a.token, { scopes: ["WRITE"] });
    const res = await run(platform.gatewayUrl, "CreateProject", secret, { input: { name: "by key" } });
    expect(res.errors).toBeUndefined();
    expect(res.data?.createProject.project.name).toBe("by key");
    const listed = await eventually(
      async () => (await gql(platform.gatewayUrl, API_KEYS, { token: a.token })).data?.apiKeys,
      (keys: Array<{ id: string; lastUsedAt: string | null }>) =>
        Boolean(keys.find((k) => k.id === apiKey.id)?.lastUsedAt),
    );
    expect(listed.find((k) => k.id === apiKey.id)?.lastUsedAt).toBeTruthy();
  });

  it("never reaches another tenant's data", async () => {
    const { secret } = await createKey(a.token, { scopes: ["WRITE"] });
    const projects = await run(platform.gatewayUrl, "Projects", secret);
    expect(projects.errors).toBeUndefined();
    expect(projects.data.projects.edges.map((e: { node: { id: string } }) => e.node.id)).not.toContain(
      bProject.id,
    );
    const theirs = await run(platform.gatewayUrl, "ProjectByKey", secret, { key: bProject.key });
    expect(theirs.data ?? { projectByKey: null }).toEqual({ projectByKey: null });
    expect(JSON.stringify(theirs)).not.toContain("B only");
    // Control: B's own token reads it.
    const control = await run(platform.gatewayUrl, "ProjectByKey", b.token, { key: bProject.key });
    expect(control.data?.projectByKey.name).toBe("B only");
    // A's key re-addressed to B's tenant (the ids are in the key): the secret no longer matches anything.
    const body = Buffer.from(secret.slice(4), "base64url");
    Buffer.from(b.tenantId.replaceAll("-", ""), "hex").copy(body, 16);
    const forged = `cdt_${body.toString("base64url")}`;
    const res = await run(platform.gatewayUrl, "ProjectByKey", forged, { key: bProject.key });
    expect(codes(res)).toEqual(["UNAUTHENTICATED"]);
    expect(res.data ?? null).toBeNull();
  });

  it("refuses malformed, unknown, wrong-secret and expired keys with UNAUTHENTICATED", async () => {
    const { secret, apiKey } = await createKey(a.token, {
      scopes: ["READ"],
      expiresAt: new Date(Date.now() + 3_000).toISOString(),
    });
    const control = await currentOrganization(platform.gatewayUrl, secret);
    expect(control.data?.currentOrganization.id).toBe(a.tenantId);

    const wrongSecret = generateApiKey(apiKey.id, a.tenantId).key;
    const unknown = generateApiKey(newId(), a.tenantId).key;
    const flipped = `${secret.slice(0, -1)}${secret.endsWith("A") ? "B" : "A"}`;
    for (const bad of [
      "cdt_",
      "cdt_abc",
      `${secret}x`,
      `cdt_${"!".repeat(86)}`,
      unknown,
      wrongSecret,
      flipped,
    ]) {
      const res = await currentOrganization(platform.gatewayUrl, bad);
      expect(codes(res), bad).toEqual(["UNAUTHENTICATED"]);
      expect(res.data ?? null).toBeNull();
    }
    await eventually(
      async () => codes(await currentOrganization(platform.gatewayUrl, secret))?.[0],
      (code) => code === "UNAUTHENTICATED",
      10_000,
    );
  });

  it("identity's resolution endpoint answers the gateway only", async () => {
    const { secret } = await createKey(a.token, { scopes: ["READ"] });
    const url = new URL("/internal/api-keys/resolve", platform.subgraphUrls.identity);
    const direct = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", [INTERNAL_CONTEXT_HEADER]: "forged" },
      body: JSON.stringify({ key: secret }),
    });
    expect(direct.status).toBe(401);
    expect(await direct.text()).not.toContain(a.tenantId);
  });
});

describe("revocation", () => {
  it.skipIf(!redisUrl)("is seen at once by every gateway through Redis (not the 60 s cache)", async () => {
    const other = await startGateway(platform, {});
    try {
      const { secret, apiKey } = await createKey(a.token, { scopes: ["READ"] });
      for (const url of [platform.gatewayUrl, other.url]) {
        const res = await currentOrganization(url, secret);
        expect(res.data?.currentOrganization.id).toBe(a.tenantId);
      }
      const started = Date.now();
      await gql(platform.gatewayUrl, REVOKE_KEY, { token: a.token, variables: { id: apiKey.id } });
      for (const url of [platform.gatewayUrl, other.url]) {
        await eventually(
          async () => codes(await currentOrganization(url, secret))?.[0],
          (code) => code === "UNAUTHENTICATED",
          5_000,
        );
      }
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      await other.close();
    }
  });

  /** A graphql-ws connection acknowledged for `credential`, and the close code it ends with. */
  async function openConnection(credential: string) {
    const socket = new WebSocket(platform.gatewayWsUrl, "graphql-transport-ws");
    const closed = new Promise<number>((resolve) => socket.on("close", (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      socket.on("open", () =>
        socket.send(
          JSON.stringify({ type: "connection_init", payload: { Authorization: `Bearer ${credential}` } }),
        ),
      );
      socket.on("message", (data) => {
        if (JSON.parse(String(data)).type === "connection_ack") resolve();
      });
      socket.on("error", reject);
    });
    return { socket, closed };
  }

  it("closes every WebSocket opened with the key (4403), and no other", async () => {
    const { secret, apiKey } = await createKey(a.token, { scopes: ["READ"] });
    // The gateway checks each credential once for all its connections: both must close.
    const withKey = [await openConnection(secret), await openConnection(secret)];
    const withToken = await openConnection(a.token);
    const started = Date.now();
    await gql(platform.gatewayUrl, REVOKE_KEY, { token: a.token, variables: { id: apiKey.id } });
    expect(await Promise.all(withKey.map((c) => c.closed))).toEqual([4403, 4403]);
    // Rechecked every 5 s through the cache that Redis's revocation message has already cleared.
    expect(Date.now() - started).toBeLessThan(redisUrl ? 10_000 : 70_000);
    // The owner's connection outlives a further check of every credential.
    const stillOpen = await Promise.race([
      withToken.closed.then(() => false),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(true), 6_000)),
    ]);
    expect(stillOpen).toBe(true);
    withToken.socket.close();
  });

  it("without Redis, is seen within the cache lifetime", async () => {
    const { REDIS_URL: _none, ...settings } = platform.gatewaySettings;
    const app = await createGatewayApp(gatewayEnv.parse({ ...settings, AUTH_CACHE_TTL_SECONDS: "2" }));
    const server = await listen(app.yoga, 0, "127.0.0.1");
    const url = `${server.url}/graphql`;
    try {
      const { secret, apiKey } = await createKey(a.token, { scopes: ["READ"] });
      const before = await currentOrganization(url, secret);
      expect(before.data?.currentOrganization.id).toBe(a.tenantId);
      await gql(platform.gatewayUrl, REVOKE_KEY, { token: a.token, variables: { id: apiKey.id } });
      await eventually(
        async () => codes(await currentOrganization(url, secret))?.[0],
        (code) => code === "UNAUTHENTICATED",
        2_000 + 5_000,
      );
    } finally {
      await app.close();
      await server.close();
    }
  });
});
