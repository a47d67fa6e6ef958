/**
 * Drives Prisma's schema engine (WebAssembly build) from Node, without the native `schema-engine`
 * binary that cannot be downloaded on our machines (see /work/shared/notes/prisma-offline.md).
 *
 * We only use the engine's `diff` command:
 * - empty -> datamodel files: the DDL that creates the whole schema (`sqlFromSchema`);
 * - live database -> datamodel files: what SQL would make the database match the schema
 *   (`checkDrift`). The SQL migrations in prisma/migrations stay the source of truth that runs in
 *   production; this only proves that they and the Prisma schema agree.
 *
 * INTERNAL API WARNING. Everything below relies on internals that Prisma does not promise to keep:
 * - `prisma/build/schema_engine_bg.wasm` (a file inside the `prisma` package, not an export),
 * - the wasm-bindgen JS glue published as `@prisma/schema-engine-wasm` (the CLI bundles no glue for
 *   that wasm; the package says "internal to Prisma, its API will break without prior warning"),
 * - `SchemaEngine.new(options, logCallback, adapterFactory)` and `engine.diff(DiffParams)`,
 * - `bindMigrationAwareSqlAdapterFactory` from `@prisma/driver-adapter-utils`,
 * - the shape of `@prisma/adapter-pg`'s adapter and the engine's first handshake query.
 * All of them are pinned to exact versions in `PINNED` and checked at load time. RE-CHECK THIS
 * MODULE ON EVERY PRISMA UPGRADE (run prisma/src/schema-engine.test.ts, then update `PINNED`).
 *
 * @module
 */
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { PrismaPg } from "@prisma/adapter-pg";
import {
  bindMigrationAwareSqlAdapterFactory,
  type SqlDriverAdapter,
  type SqlMigrationAwareDriverAdapterFactory,
  type SqlQuery,
  type SqlResultSet,
} from "@prisma/driver-adapter-utils";
import type {
  DiffParams,
  DiffResult,
  SchemaContainer,
  SchemaEngine,
} from "@prisma/schema-engine-wasm/schema_engine_bg";
// The glue module only (not the package root): the root does `import * as wasm from "./x.wasm"`,
// which needs Node's --experimental-wasm-modules. We instantiate the wasm ourselves below.
import * as glue from "@prisma/schema-engine-wasm/schema_engine_bg";
import pg from "pg";

/**
 * Exact versions this module was written and tested against. INTERNAL APIs: re-check on every
 * Prisma upgrade. `engineHash` is what the wasm's `version()` returns; for prisma 7.10.1 it equals
 * `@prisma/engines-version`'s `prisma.enginesVersion`.
 *
 * Why two different engine builds are involved: prisma 7.10.1 ships `schema_engine_bg.wasm` built
 * from engines commit d1b3f377..., but no npm release of `@prisma/schema-engine-wasm` exists for
 * that commit. The 8.1.0-2.59be4fda... release has the same wasm-bindgen import/export names (its
 * wasm differs from ours only in import order and the embedded git hash), so we take the JS glue
 * from that package and the wasm itself from `prisma`, i.e. the engine that matches our CLI.
 * `loadEngineModule` verifies that every import the wasm needs is provided by the glue.
 */
export const PINNED = {
  prisma: "7.10.1",
  engineHash: "d1b3f377ca835d73fd50954a5e22128b9ebdd6b8",
  schemaEngineWasmGlue: "8.1.0-2.59be4fda12412a79eeb9c2ae727b6aa723593323",
  adapterPg: "7.10.1",
  driverAdapterUtils: "7.10.1",
} as const;

/** A Prisma schema file as the engine wants it: a path (only used in messages) and its text. */
export type SchemaFile = SchemaContainer;

/** Options shared by the high-level helpers. */
export interface SchemaSourceOptions {
  /** Folder holding the `*.prisma` files. Defaults to prisma/schema of this workspace. */
  schemaDir?: string;
}

/** Tables that our own SQL migrations create but Prisma does not model. */
export const DEFAULT_EXTERNAL_TABLES: readonly string[] = [
  // Bookkeeping table of src/cli/migrate.ts. The engine only skips its own `_prisma_migrations`
  // table by itself; without this entry the drift check reports `DROP TABLE "_migrations"`
  // (verified in schema-engine.test.ts). Postgres needs the schema-qualified name here.
  "public._migrations",
];

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));

/** Default location of the multi-file Prisma schema (prisma/schema, next to prisma.config.ts). */
export const DEFAULT_SCHEMA_DIR = path.resolve(here, "..", "schema");

/** Error raised for anything that went wrong inside or around the schema engine. */
export class SchemaEngineError extends Error {
  override name = "SchemaEngineError";
}

// ---------------------------------------------------------------------------------------------
// Loading the wasm engine
// ---------------------------------------------------------------------------------------------

function packageDir(entry: string): string {
  // Walk up from a resolvable entry point: `@prisma/schema-engine-wasm` does not export
  // `./package.json`, and `prisma` does not export its `build/` folder.
  let dir = path.dirname(require.resolve(entry));
  for (;;) {
    try {
      readFileSync(path.join(dir, "package.json"));
      return dir;
    } catch {
      const parent = path.dirname(dir);
      if (parent === dir) throw new SchemaEngineError(`package.json not found above ${entry}`);
      dir = parent;
    }
  }
}

function installedVersion(dir: string): string {
  return (JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")) as { version: string }).version;
}

function assertPinnedVersions(prismaDir: string): void {
  const found = {
    prisma: installedVersion(prismaDir),
    schemaEngineWasmGlue: installedVersion(packageDir("@prisma/schema-engine-wasm/schema_engine_bg")),
    adapterPg: installedVersion(packageDir("@prisma/adapter-pg")),
    driverAdapterUtils: installedVersion(packageDir("@prisma/driver-adapter-utils")),
  };
  const wrong = Object.entries(found).filter(([k, v]) => PINNED[k as keyof typeof PINNED] !== v);
  if (wrong.length > 0) {
    throw new SchemaEngineError(
      `prisma/src/schema-engine.ts relies on internal Prisma APIs pinned to exact versions; installed ${wrong
        .map(([k, v]) => `${k}=${v} (pinned ${PINNED[k as keyof typeof PINNED]})`)
        .join(", ")}. Re-check the module against the new versions, then update PINNED.`,
    );
  }
}

interface PanicRegistry {
  message: string;
  set_message(message: string): void;
}

// The engine reports Rust panics through `global.PRISMA_WASM_PANIC_REGISTRY.set_message` (the
// prisma CLI installs the same object). Without it a panic is an opaque `unreachable` trap.
function panicRegistry(): PanicRegistry {
  const g = globalThis as { PRISMA_WASM_PANIC_REGISTRY?: PanicRegistry };
  g.PRISMA_WASM_PANIC_REGISTRY ??= {
    message: "",
    set_message(message: string) {
      this.message = message;
    },
  };
  return g.PRISMA_WASM_PANIC_REGISTRY;
}

let loaded: typeof glue | undefined;

/**
 * Instantiates prisma's `schema_engine_bg.wasm` with the pinned glue, once per process.
 * @returns the glue module, whose `SchemaEngine` class is now usable.
 */
export function loadEngineModule(): typeof glue {
  if (loaded) return loaded;
  const prismaDir = packageDir("prisma/package.json");
  assertPinnedVersions(prismaDir);
  panicRegistry();

  const wasmPath = path.join(prismaDir, "build", "schema_engine_bg.wasm");
  const module = new WebAssembly.Module(readFileSync(wasmPath));
  // The glue and the wasm come from different packages: check that every import resolves, so a
  // mismatch fails here with a readable message rather than as a LinkError or a wrong call later.
  const glueExports = glue as unknown as Record<string, unknown>;
  const missing = WebAssembly.Module.imports(module)
    .filter((i) => i.module !== "./schema_engine_bg.js" || typeof glueExports[i.name] !== "function")
    .map((i) => `${i.module}:${i.name}`);
  if (missing.length > 0) {
    throw new SchemaEngineError(
      `${wasmPath} needs imports the @prisma/schema-engine-wasm glue does not provide: ${missing.join(", ")}`,
    );
  }
  const instance = new WebAssembly.Instance(module, {
    "./schema_engine_bg.js": glueExports as WebAssembly.ModuleImports,
  });
  (glue as unknown as { __wbg_set_wasm(w: WebAssembly.Exports): void }).__wbg_set_wasm(instance.exports);
  (instance.exports as { __wbindgen_start(): void }).__wbindgen_start();

  const hash = glue.version();
  if (hash !== PINNED.engineHash) {
    throw new SchemaEngineError(`schema engine wasm reports ${hash}, pinned ${PINNED.engineHash}`);
  }
  loaded = glue;
  return glue;
}

// ---------------------------------------------------------------------------------------------
// Database access for the engine
// ---------------------------------------------------------------------------------------------

const PG_CHAR_OID = 18; // PostgreSQL's internal one-byte "char" (pg_class.relkind, pg_constraint.contype...)
const PG_TEXT_OID = 25;

type PgResultLike = { fields?: { dataTypeID: number }[] };

function relabelCharColumns<T>(result: T): T {
  for (const r of Array.isArray(result) ? result : [result]) {
    for (const f of (r as PgResultLike | undefined)?.fields ?? []) {
      if (f.dataTypeID === PG_CHAR_OID) f.dataTypeID = PG_TEXT_OID;
    }
  }
  return result;
}

/**
 * A pg Client that reports `"char"` columns as `text`.
 *
 * Why: the engine's introspection reads catalog columns of type `"char"` (oid 18), which
 * @prisma/adapter-pg 7.10.1 rejects ("Column type 'char' could not be deserialized"). pg already
 * parses such a value as a one-character string, so relabelling the column as text is lossless.
 * Done at the Client level so that pool queries and transaction connections are both covered.
 */
class CharAsTextClient extends pg.Client {
  // biome-ignore lint/suspicious/noExplicitAny: pg's query() has many overloads; we pass them through.
  override query(...args: any[]): any {
    const last = args[args.length - 1];
    if (typeof last === "function") {
      args[args.length - 1] = (err: unknown, res: unknown) => last(err, err ? res : relabelCharColumns(res));
      // biome-ignore lint/suspicious/noExplicitAny: see above
      return (super.query as any)(...args);
    }
    // biome-ignore lint/suspicious/noExplicitAny: see above
    const out = (super.query as any)(...args);
    return out && typeof out.then === "function" ? out.then(relabelCharColumns) : out;
  }
}

function refuseShadowDb(): never {
  // PrismaPg.connectToShadowDb() with a connection string connects to the MAIN database. None of
  // the operations we use needs a shadow database; make sure the engine can never "reset" ours.
  throw new SchemaEngineError("shadow database requested; this module never provides one");
}

/** A live database the engine talks to through @prisma/adapter-pg. */
function pgAdapterFactory(connectionString: string): {
  factory: SqlMigrationAwareDriverAdapterFactory;
  close(): Promise<void>;
} {
  // Our own pool (not a connection string) so that we control the Client class and can end the
  // pool: the engine never disposes it, and an open pool keeps the process alive.
  const pool = new pg.Pool({ connectionString, Client: CharAsTextClient, max: 2 });
  // An idle client dying (e.g. server restart) is emitted on the pool; unhandled, it would crash
  // the process instead of failing the pending engine call with a readable error.
  pool.on("error", (e) => process.stderr.write(`schema-engine pg pool: ${e.message}\n`));
  const prismaPg = new PrismaPg(pool);
  const factory: SqlMigrationAwareDriverAdapterFactory = {
    provider: prismaPg.provider,
    adapterName: prismaPg.adapterName,
    connect: () => prismaPg.connect(),
    connectToShadowDb: async () => refuseShadowDb(),
  };
  return { factory, close: () => pool.end() };
}

/** PostgreSQL version the offline adapter claims; only the major version can matter to the DDL. */
const OFFLINE_SERVER_VERSION = { text: "PostgreSQL 15.0 (offline; no server contacted)", num: 150000 };

/**
 * An adapter that never opens a connection, for computing DDL from the Prisma schema alone.
 *
 * Why: `SchemaEngine.new` always connects its adapter and runs one handshake query (schema
 * existence + server version), even though `diff` from `empty` to a datamodel never reads the
 * database. We answer exactly that query and throw on anything else, so an engine change that
 * starts needing the database fails loudly instead of producing DDL from invented data.
 */
function offlineAdapterFactory(): SqlMigrationAwareDriverAdapterFactory {
  const refuse = (what: string) => async (q?: SqlQuery | string) => {
    const sql = typeof q === "string" ? q : q?.sql;
    throw new SchemaEngineError(`offline schema engine tried ${what}${sql ? `: ${sql}` : ""}`);
  };
  const adapter: SqlDriverAdapter = {
    provider: "postgres",
    adapterName: "coditect-offline",
    async queryRaw(query: SqlQuery): Promise<SqlResultSet> {
      if (/^SELECT EXISTS\(SELECT 1 FROM pg_namespace WHERE nspname = \$1\), version\(\)/.test(query.sql)) {
        return {
          columnNames: ["exists", "version", "numeric_version"],
          columnTypes: [5 /* Boolean */, 7 /* Text */, 0 /* Int32 */],
          rows: [[true, OFFLINE_SERVER_VERSION.text, OFFLINE_SERVER_VERSION.num]],
        };
      }
      return refuse("a query")(query);
    },
    executeRaw: refuse("a statement"),
    executeScript: refuse("a script"),
    startTransaction: refuse("a transaction"),
    dispose: async () => {},
  };
  return {
    provider: "postgres",
    adapterName: "coditect-offline",
    connect: async () => adapter,
    connectToShadowDb: async () => refuseShadowDb(),
  };
}

// ---------------------------------------------------------------------------------------------
// Engine sessions
// ---------------------------------------------------------------------------------------------

/** An open engine bound to one database (or to the offline adapter). Always `close()` it. */
export interface EngineSession {
  /** Runs the engine's `diff`; engine errors and panics become `SchemaEngineError`. */
  diff(params: DiffParams): Promise<DiffResult>;
  /** Frees the wasm object and ends the pg pool. */
  close(): Promise<void>;
}

/**
 * Opens a schema engine.
 * @param connectionString a PostgreSQL URL, or `undefined` for the offline adapter (DDL only).
 */
export async function openEngine(connectionString: string | undefined): Promise<EngineSession> {
  const { SchemaEngine } = loadEngineModule();
  const db = connectionString ? pgAdapterFactory(connectionString) : undefined;
  const factory = bindMigrationAwareSqlAdapterFactory(db?.factory ?? offlineAdapterFactory());
  // The engine logs JSON lines through this callback; keep the recent ones for error messages.
  const logs: string[] = [];
  const onLog = (line: string) => {
    if (process.env.SCHEMA_ENGINE_DEBUG) process.stderr.write(`${line}\n`);
    logs.push(line);
    if (logs.length > 50) logs.shift();
  };
  const wrap = (e: unknown): SchemaEngineError => {
    const panic = panicRegistry().message;
    const msg = e instanceof Error ? e.message : String(e);
    const err = new SchemaEngineError(panic ? `${msg}\n(engine panic: ${panic})` : msg, { cause: e });
    return err;
  };
  let engine: SchemaEngine;
  try {
    engine = await SchemaEngine.new({ datamodels: undefined }, onLog, factory);
  } catch (e) {
    await db?.close();
    throw wrap(e);
  }
  return {
    async diff(params) {
      try {
        return await engine.diff(params);
      } catch (e) {
        throw wrap(e);
      }
    },
    async close() {
      engine.free();
      await db?.close();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// High-level operations
// ---------------------------------------------------------------------------------------------

/** Reads every `*.prisma` file of the schema folder, in a stable order. */
export function loadSchemaFiles(schemaDir: string = DEFAULT_SCHEMA_DIR): SchemaFile[] {
  const files = readdirSync(schemaDir)
    .filter((f) => f.endsWith(".prisma"))
    .sort()
    .map((f) => ({ path: path.join(schemaDir, f), content: readFileSync(path.join(schemaDir, f), "utf8") }));
  if (files.length === 0) throw new SchemaEngineError(`no .prisma files in ${schemaDir}`);
  return files;
}

/**
 * The PostgreSQL DDL that creates the whole Prisma schema in an empty database
 * (engine `diff` from `empty` to `schemaDatamodel`, script mode).
 * @param options.connectionString optional; by default no database is contacted.
 */
export async function sqlFromSchema(
  options: SchemaSourceOptions & { connectionString?: string } = {},
): Promise<string> {
  const files = loadSchemaFiles(options.schemaDir);
  const session = await openEngine(options.connectionString);
  try {
    const result = await session.diff({
      from: { tag: "empty" },
      to: { tag: "schemaDatamodel", files },
      script: true,
      exitCode: null,
      filters: { externalTables: [], externalEnums: [] },
    });
    return result.stdout ?? "";
  } finally {
    await session.close();
  }
}

/** Result of {@link checkDrift}. */
export interface DriftResult {
  /** True when the database differs from the Prisma schema. */
  drift: boolean;
  /** The SQL that would make the database match the schema (engine script output, verbatim). */
  sql: string;
  /** The engine's own verdict: 2 when its migration is not empty (we asked for `exitCode`). */
  engineExitCode: number;
}

/**
 * Compares a live database with the Prisma schema (engine `diff` from `schemaDatasource`, i.e. the
 * database the adapter is connected to, to `schemaDatamodel`, script mode). Needs no shadow
 * database. The engine does not look at RLS policies, functions or grants, so those never count
 * as drift; tables in `externalTables` are ignored entirely.
 *
 * Drift is reported if EITHER the engine says its migration is non-empty OR the script contains
 * anything besides comments and whitespace: the two must never disagree toward a false "no drift".
 */
export async function checkDrift(
  options: SchemaSourceOptions & { connectionString: string; externalTables?: readonly string[] },
): Promise<DriftResult> {
  const files = loadSchemaFiles(options.schemaDir);
  const session = await openEngine(options.connectionString);
  try {
    const result = await session.diff({
      // `url` targets are rejected by this engine ("--from-url ... no longer supported");
      // `schemaDatasource` means "the database of the adapter". Its files are not read for the
      // database side, but the engine wants them; we pass the same files.
      from: { tag: "schemaDatasource", files, configDir: path.dirname(files[0]!.path) },
      to: { tag: "schemaDatamodel", files },
      script: true,
      exitCode: true,
      filters: {
        externalTables: [...(options.externalTables ?? DEFAULT_EXTERNAL_TABLES)],
        externalEnums: [],
      },
    });
    const sql = result.stdout ?? "";
    return { drift: result.exitCode !== 0 || !isEmptySql(sql), sql, engineExitCode: result.exitCode };
  } finally {
    await session.close();
  }
}

/**
 * True when a script holds nothing but whitespace and SQL comments (`-- ...` and `/* ... *\/`).
 * The engine prints "-- This is an empty migration." for an empty diff.
 */
export function isEmptySql(sql: string): boolean {
  return (
    sql
      .replace(/\/\*[\s\S]*?\*\//g, "")
      .replace(/--[^\n]*/g, "")
      .trim() === ""
  );
}
