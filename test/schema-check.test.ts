import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { loadSubgraphSdl } from "@app/common/subgraph";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import {
  DEFAULT_TRUSTED_DOCUMENTS_PATH,
  loadTrustedDocuments,
} from "../gateway/src/persisted-operations/trusted-documents.ts";
import {
  type ClientOperation,
  checkSchema,
  describeBreakage,
  registeredOperations,
  trustedOperations,
} from "../scripts/operations-check.ts";
import { gql, type Platform, signUpTenant, startPlatform } from "./platform.ts";

/**
 * `npm run schema:check`: a schema change that would break an operation clients rely on (the platform's
 * trusted documents, or one an organization registered) fails it, naming the operation and GraphQL's
 * complaint; a compatible change passes.
 */

const REGISTER = `mutation($input: RegisterOperationInput!) { registerOperation(input: $input) { operation { id } } }`;
const PROBE = "query SchemaCheckProbe { projects { edges { node { id name } } } }";

/** The projects subgraph's SDL without `Project.name`: a breaking change. */
const withoutProjectName = () => {
  const sdl = loadSubgraphSdl("projects");
  const changed = sdl.replace(/(type Project @key\(fields: "id"\) \{\n(?:.*\n)*?)\s*name: String!\n/, "$1");
  expect(changed).not.toBe(sdl);
  return changed;
};

let trusted: ClientOperation[];
let platform: Platform;
let tenantId: string;

beforeAll(async () => {
  trusted = trustedOperations(await loadTrustedDocuments(DEFAULT_TRUSTED_DOCUMENTS_PATH));
  platform = await startPlatform(inject("databaseUrl"));
  const admin = await signUpTenant(platform.gatewayUrl, "schema-check");
  tenantId = admin.tenantId;
  const res = await gql(platform.gatewayUrl, REGISTER, {
    token: admin.token,
    variables: { input: { name: "SchemaCheckProbe", document: PROBE } },
  });
  expect(res.errors).toBeUndefined();
});
afterAll(() => platform?.close());

describe("schema:check", () => {
  it("passes the current schema with every trusted and registered operation", async () => {
    const registered = await registeredOperations(inject("databaseUrl"));
    expect(registered).toContainEqual({
      origin: "registered",
      tenantId,
      name: "SchemaCheckProbe",
      document: PROBE,
    });
    expect(trusted.map((o) => o.name)).toEqual(
      expect.arrayContaining(["Me", "Projects", "Board", "BoardChanges"]),
    );
    expect(checkSchema([...trusted, ...registered])).toEqual({ breakages: [] });
  });

  it("fails a change that breaks a registered operation, naming it, its organization and the error", async () => {
    const registered = await registeredOperations(inject("databaseUrl"));
    const result = checkSchema([...trusted, ...registered], { projects: withoutProjectName() });
    if (result.compositionErrors) throw new Error(result.compositionErrors.join("\n"));
    const lines = result.breakages.map(describeBreakage);
    expect(lines).toContain(
      `registered operation SchemaCheckProbe of organization ${tenantId}: Cannot query field "name" on type "Project". (at 1:55)`,
    );
    // The platform's own operations that read the name break too.
    expect(
      lines.filter((line) => line.startsWith("trusted operation Projects (schema/operations)")),
    ).toHaveLength(1);
  });

  it("a compatible change (a new optional field) passes", () => {
    const sdl = loadSubgraphSdl("projects");
    const added = sdl.replace(/(type Project @key\(fields: "id"\) \{\n)/, "$1  color: String\n");
    expect(added).not.toBe(sdl);
    expect(checkSchema(trusted, { projects: added })).toEqual({ breakages: [] });
  });

  it("reports subgraphs that no longer compose", () => {
    const broken = loadSubgraphSdl("projects").replace(
      'type Project @key(fields: "id")',
      'type Project @key(fields: "nope")',
    );
    const result = checkSchema(trusted, { projects: broken });
    expect(result.compositionErrors?.join("\n")).toContain("nope");
  });

  it("the command exits 1 and names the operation (registered operations from a snapshot)", async () => {
    const dir = await mkdtemp(join(tmpdir(), "schema-check-"));
    try {
      const snapshot = join(dir, "registered.json");
      await writeFile(
        snapshot,
        JSON.stringify([
          { tenantId, name: "Stale", document: "query Stale { projects { edges { node { gone } } } }" },
        ]),
      );
      const run = promisify(execFile)("npx", ["tsx", "scripts/schema-check.ts", "--registered", snapshot], {
        cwd: new URL("..", import.meta.url),
      });
      const failed = await run.then(
        () => null,
        (error: { code: number; stderr: string }) => error,
      );
      expect(failed?.code).toBe(1);
      expect(failed?.stderr).toContain(
        `✗ registered operation Stale of organization ${tenantId}: Cannot query field "gone" on type "Project".`,
      );
      expect(failed?.stderr).toContain("schema:check failed: 1 operation(s) would break");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    // A process of its own (tsx, composition): seconds alone, more on a busy machine.
  }, 120_000);
});
