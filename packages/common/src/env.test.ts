import { execFile } from "node:child_process";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import type { z } from "zod";
import { EnvError, envBoolean, parseEnv, port, subgraphEnv } from "./env.ts";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const secret = "s".repeat(32);
const databaseUrl = "postgresql://postgres@127.0.0.1:5432/coditect";

/** parseEnv in test mode: returns the settings or the EnvError it threw. */
function tryParse<S extends z.ZodType>(schema: S, source: Record<string, string | undefined>) {
  try {
    return { env: parseEnv(schema, { exit: false, source }) };
  } catch (error) {
    if (!(error instanceof EnvError)) throw error;
    return { error };
  }
}

describe("parseEnv", () => {
  it("lists every problem, each naming its variable", () => {
    const { error } = tryParse(subgraphEnv.extend({ PORT: port }), {
      DATABASE_URL: "nonsense",
      DATABASE_POOL_SIZE: "0",
      LOG_LEVEL: "loud",
      INTERNAL_CONTEXT_SECRET: "short",
      PORT: "70000",
    });
    expect(error).toBeInstanceOf(EnvError);
    const named = error!.problems.map((p) => p.split(":")[0]).sort();
    expect(named).toEqual([
      "DATABASE_POOL_SIZE",
      "DATABASE_URL",
      "INTERNAL_CONTEXT_SECRET",
      "LOG_LEVEL",
      "PORT",
    ]);
    expect(error!.problems).toContain("DATABASE_URL: must be a postgres:// URL");
    expect(error!.problems).toContain(
      "INTERNAL_CONTEXT_SECRET: must be at least 32 characters (shared with the gateway)",
    );
    // The message printed at start carries all of them, one per line.
    for (const p of error!.problems) expect(error!.message).toContain(`  - ${p}`);
  });

  it("reports missing required variables together", () => {
    const { error } = tryParse(subgraphEnv, {});
    expect(error!.problems.map((p) => p.split(":")[0]).sort()).toEqual([
      "DATABASE_URL",
      "INTERNAL_CONTEXT_SECRET",
    ]);
  });

  it("treats empty strings as unset", () => {
    const { error } = tryParse(subgraphEnv, { DATABASE_URL: "", INTERNAL_CONTEXT_SECRET: "" });
    expect(error!.problems.map((p) => p.split(":")[0]).sort()).toEqual([
      "DATABASE_URL",
      "INTERNAL_CONTEXT_SECRET",
    ]);
    // An empty optional setting falls back to its default instead of failing a format check
    // (an empty DATABASE_POOL_SIZE would otherwise coerce to 0 and fail min(1)).
    const { env } = tryParse(subgraphEnv, {
      DATABASE_URL: databaseUrl,
      INTERNAL_CONTEXT_SECRET: secret,
      NODE_ENV: "",
      LOG_LEVEL: "",
      DATABASE_POOL_SIZE: "",
    });
    expect(env).toMatchObject({ NODE_ENV: "development", LOG_LEVEL: "info", DATABASE_POOL_SIZE: 10 });
  });

  it("applies defaults and coerces values", () => {
    const { env } = tryParse(
      subgraphEnv.extend({ PORT: port.default(4001), DEBUG: envBoolean.default(false) }),
      {
        DATABASE_URL: databaseUrl,
        INTERNAL_CONTEXT_SECRET: secret,
      },
    );
    expect(env).toEqual({
      NODE_ENV: "development",
      LOG_LEVEL: "info",
      DATABASE_URL: databaseUrl,
      DATABASE_POOL_SIZE: 10,
      INTERNAL_CONTEXT_SECRET: secret,
      OTEL_TRACES_SAMPLE_RATIO: 1,
      PORT: 4001,
      DEBUG: false,
    });
    const { env: set } = tryParse(subgraphEnv.extend({ PORT: port, DEBUG: envBoolean }), {
      DATABASE_URL: databaseUrl,
      INTERNAL_CONTEXT_SECRET: secret,
      DATABASE_POOL_SIZE: "25",
      PORT: "0",
      DEBUG: "yes",
    });
    expect(set).toMatchObject({ DATABASE_POOL_SIZE: 25, PORT: 0, DEBUG: true });
  });
});

describe("a service started with a bad environment", () => {
  it("exits non-zero and names every bad variable on stderr", { timeout: 60_000 }, async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: "nonsense" };
    delete env.INTERNAL_CONTEXT_SECRET;
    delete env.NODE_OPTIONS;
    // A healthy service would listen forever: the timeout turns that into a failure, not a hang.
    const result = await promisify(execFile)(
      process.execPath,
      ["--import", "tsx", "subgraphs/tenants/src/index.ts"],
      { cwd: repoRoot, env, timeout: 30_000 },
    ).then(
      ({ stdout, stderr }) => ({ code: 0 as number | null, signal: null as string | null, stdout, stderr }),
      (e: { code?: number | null; signal?: string | null; stdout?: string; stderr?: string }) => ({
        code: e.code ?? null,
        signal: e.signal ?? null,
        stdout: e.stdout ?? "",
        stderr: e.stderr ?? "",
      }),
    );
    expect(result.signal).toBeNull();
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("DATABASE_URL: must be a postgres:// URL");
    expect(result.stderr).toMatch(/INTERNAL_CONTEXT_SECRET: /);
  });
});
