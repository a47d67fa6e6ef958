import { readFileSync } from "node:fs";
import { parseEnv, postgresUrl } from "@app/common/env";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { z } from "zod";
import { gatewayEnv, gatewayEnvShape } from "../gateway/src/env.ts";
import { SUBGRAPHS } from "../scripts/subgraphs.ts";
import { billingEnv } from "../subgraphs/billing/src/env.ts";
import { identityEnv } from "../subgraphs/identity/src/env.ts";
import { projectsEnv } from "../subgraphs/projects/src/env.ts";
import { tenantsEnv } from "../subgraphs/tenants/src/env.ts";
import { workerEnv, workerEnvShape } from "../worker/src/env.ts";

// No Docker engine runs the compose file in CI, so this checks it against what the services read: a
// renamed variable, a wrong port or a forgotten secret fails here instead of at `docker compose up`.

const COMPOSE_SOURCE = readFileSync(new URL("../docker-compose.yml", import.meta.url), "utf8");

/** What the user exports before `docker compose up`; nothing else may be needed from the shell. */
const USER_ENV = { INTERNAL_CONTEXT_SECRET: "compose-test-secret-".padEnd(48, "x") };

/** Each Node service of the compose file, the schema its env.ts parses, and its workspace. */
const APP_SERVICES = {
  gateway: { schema: gatewayEnv, shape: gatewayEnvShape, workspace: "gateway" },
  tenants: { schema: tenantsEnv, shape: tenantsEnv.shape, workspace: "subgraphs/tenants" },
  identity: { schema: identityEnv, shape: identityEnv.shape, workspace: "subgraphs/identity" },
  projects: { schema: projectsEnv, shape: projectsEnv.shape, workspace: "subgraphs/projects" },
  billing: { schema: billingEnv, shape: billingEnv.shape, workspace: "subgraphs/billing" },
  worker: { schema: workerEnv, shape: workerEnvShape, workspace: "worker" },
} satisfies Record<string, { schema: z.ZodType; shape: Record<string, z.ZodType>; workspace: string }>;
type AppService = keyof typeof APP_SERVICES;
const APP_NAMES = Object.keys(APP_SERVICES) as AppService[];

/** `npm run db:migrate` reads only DATABASE_URL (prisma/src/cli/migrate.ts parses it inline). */
const migrateEnv = z.object({ DATABASE_URL: postgresUrl }).strict();

/** The platform's port plan: gateway 4000, subgraphs 4001-4004 (scripts/subgraphs.ts), worker 4005. */
const PORT_PLAN: Record<AppService, number> = {
  gateway: 4000,
  worker: 4005,
  ...(Object.fromEntries(SUBGRAPHS.map((s) => [s.name, s.port])) as Record<
    (typeof SUBGRAPHS)[number]["name"],
    number
  >),
};

/**
 * Compose's variable interpolation for the forms this file may use: `$$`, `$VAR`, `${VAR}`,
 * `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}` and `${VAR?error}`. An unset variable without a
 * default is an error here (compose would quietly substitute an empty string).
 */
function interpolate(value: unknown, vars: Record<string, string>): unknown {
  if (typeof value === "string") {
    return value.replace(
      /\$(?:(\$)|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g,
      (
        _match,
        dollar?: string,
        braced?: string,
        colon?: string,
        op?: string,
        arg?: string,
        bare?: string,
      ) => {
        if (dollar) return "$";
        const name = (braced ?? bare)!;
        const current = vars[name];
        const isSet = colon ? current !== undefined && current !== "" : current !== undefined;
        if (isSet) return current!;
        if (op === "-") return arg ?? "";
        throw new Error(op === "?" ? `${name}: ${arg}` : `${name} is not set and has no default`);
      },
    );
  }
  if (Array.isArray(value)) return value.map((v) => interpolate(v, vars));
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, vars)]));
  }
  return value;
}

// The subset of the compose format this file uses, in the forms the house prefers: environment as a
// map with explicit values (no pass-through from the shell), long-form depends_on with a condition,
// exec-form healthchecks.
const composeService = z.object({
  image: z.string().optional(),
  build: z.unknown().optional(),
  command: z.array(z.string()).optional(),
  environment: z
    .record(z.string(), z.union([z.string(), z.number(), z.boolean()]).transform(String))
    .default({}),
  ports: z.array(z.string()).default([]),
  volumes: z.array(z.string()).default([]),
  healthcheck: z.object({ test: z.array(z.string()) }).optional(),
  depends_on: z
    .record(
      z.string(),
      z.object({
        condition: z.enum(["service_started", "service_healthy", "service_completed_successfully"]),
      }),
    )
    .default({}),
  restart: z.string().optional(),
});
const composeFile = z.object({
  services: z.record(z.string(), composeService),
  volumes: z.record(z.string(), z.unknown()).default({}),
});

function loadCompose(vars: Record<string, string>) {
  return composeFile.parse(interpolate(parse(COMPOSE_SOURCE, { merge: true }), vars));
}

const compose = loadCompose(USER_ENV);
const { services } = compose;

function service(name: string) {
  const found = services[name];
  if (!found) throw new Error(`docker-compose.yml has no service "${name}"`);
  return found;
}

/** A service's settings as its own env.ts sees them at start (defaults applied, empty strings unset). */
function config(name: AppService): Record<string, unknown> {
  const { schema } = APP_SERVICES[name];
  return parseEnv(schema as z.ZodType<Record<string, unknown>>, {
    source: service(name).environment,
    exit: false,
  });
}

/** The database nodes: the one-shot job on the same image (restart "no") only runs psql against them. */
const citusNodes = Object.entries(services)
  .filter(([, s]) => s.image?.startsWith("citusdata/citus:") && s.restart !== "no")
  .map(([name]) => name);
const isCitus = (name: string) => citusNodes.includes(name);
const setupScript = Object.values(services)
  .flatMap((s) => s.command ?? [])
  .find((line) => line.includes("citus_add_node"));

/** The port each service listens on inside the compose network. */
function listeningPort(name: string): number {
  if (name in APP_SERVICES) return Number(config(name as AppService).PORT);
  if (isCitus(name)) return 5432;
  if (service(name).image?.startsWith("redis:")) return 6379;
  throw new Error(`no known port for service "${name}"`);
}

/** Whether `dependent` starts only after `target`, through healthy or completed dependencies. */
function waitsFor(dependent: string, target: string, seen = new Set<string>()): boolean {
  if (seen.has(dependent)) return false;
  seen.add(dependent);
  return Object.entries(service(dependent).depends_on).some(
    ([name, { condition }]) =>
      condition !== "service_started" && (name === target || waitsFor(name, target, seen)),
  );
}

describe("docker-compose.yml", () => {
  it("runs every Node service, and only those, from the one platform image", () => {
    const built = Object.entries(services)
      .filter(([, s]) => s.build !== undefined)
      .map(([name]) => name);
    expect(built.sort()).toEqual([...APP_NAMES, "migrate"].sort());
    expect(new Set(built.map((name) => service(name).image)).size).toBe(1);
  });

  it("starts each service's own workspace", () => {
    for (const name of APP_NAMES) {
      const pkg = JSON.parse(
        readFileSync(new URL(`../${APP_SERVICES[name].workspace}/package.json`, import.meta.url), "utf8"),
      );
      expect(service(name).command, name).toEqual(["npm", "run", "start", "-w", pkg.name]);
    }
    expect(service("migrate").command).toEqual(["npm", "run", "db:migrate"]);
  });

  it("sets only variables each service's env schema reads", () => {
    for (const name of APP_NAMES) {
      const read = Object.keys(APP_SERVICES[name].shape);
      const unread = Object.keys(service(name).environment).filter((key) => !read.includes(key));
      expect(unread, `${name} sets variables its env.ts does not read`).toEqual([]);
    }
    expect(() => migrateEnv.parse(service("migrate").environment)).not.toThrow();
  });

  it("sets every variable a service requires, with values its schema accepts", () => {
    for (const name of APP_NAMES) {
      const required = Object.entries(APP_SERVICES[name].shape)
        .filter(([, field]) => !field.safeParse(undefined).success)
        .map(([key]) => key);
      const missing = required.filter((key) => !(key in service(name).environment));
      expect(missing, `${name} misses required variables`).toEqual([]);
      expect(() => config(name), name).not.toThrow();
    }
  });

  it("refuses to start without the user's INTERNAL_CONTEXT_SECRET, and shares it between all services", () => {
    expect(() => loadCompose({})).toThrow(/^INTERNAL_CONTEXT_SECRET: .*at least 32 characters/);
    // Every service that reads the secret (all but the worker, which talks to no subgraph) has the same one.
    for (const name of APP_NAMES.filter((n) => "INTERNAL_CONTEXT_SECRET" in APP_SERVICES[n].shape)) {
      expect(config(name).INTERNAL_CONTEXT_SECRET, name).toBe(USER_ENV.INTERNAL_CONTEXT_SECRET);
    }
    // A secret that is set but too short is caught by the services' own schemas.
    const short = loadCompose({ INTERNAL_CONTEXT_SECRET: "too-short" });
    expect(() => parseEnv(tenantsEnv, { source: short.services.tenants!.environment, exit: false })).toThrow(
      /INTERNAL_CONTEXT_SECRET: must be at least 32 characters/,
    );
  });

  it("listens on the platform's port plan, checks health there, and publishes only the gateway", () => {
    for (const name of APP_NAMES) {
      const port = PORT_PLAN[name];
      expect(config(name).PORT, name).toBe(port);
      expect(service(name).healthcheck?.test.join(" "), name).toContain(`http://127.0.0.1:${port}/healthz`);
    }
    expect(service("gateway").ports).toEqual([`${PORT_PLAN.gateway}:${PORT_PLAN.gateway}`]);
    const published = Object.entries(services)
      .filter(([, s]) => s.ports.length > 0)
      .map(([name]) => name);
    // The databases trust every connection on the compose network: they must never be published. The
    // observability UIs are, on the host's loopback only.
    const observabilityUis: Record<string, number> = { prometheus: 9090, grafana: 3000, jaeger: 16686 };
    expect(published.filter((name) => !(name in observabilityUis))).toEqual(["gateway"]);
    for (const [name, port] of Object.entries(observabilityUis))
      expect(service(name).ports, name).toEqual([`127.0.0.1:${port}:${port}`]);
  });

  it("points every URL variable at a service of this file, on the port that service listens on", () => {
    let checked = 0;
    for (const [name, s] of Object.entries(services)) {
      for (const [key, value] of Object.entries(s.environment)) {
        if (!key.endsWith("_URL")) continue;
        const url = new URL(value);
        expect(Object.keys(services), `${name} ${key}`).toContain(url.hostname);
        expect(Number(url.port), `${name} ${key}`).toBe(listeningPort(url.hostname));
        checked++;
      }
    }
    // Gateway: four subgraph URLs, the JWKS and Redis; subgraphs and migrate: the database; worker: database
    // and Redis; tenants: Redis (organization cache announcements); identity: Redis (log-in limits, API-key
    // revocations). Subgraphs name the database twice: as the application role and as the cross-tenant role.
    expect(checked).toBe(SUBGRAPHS.length + 2 + 2 * SUBGRAPHS.length + 1 + 2 + 1 + 1);

    const gateway = config("gateway");
    for (const subgraph of SUBGRAPHS) {
      const url = new URL(String(gateway[subgraph.urlEnv]));
      expect([url.hostname, url.pathname], subgraph.urlEnv).toEqual([subgraph.name, "/graphql"]);
    }
    const jwks = new URL(String(gateway.JWKS_URL));
    expect([jwks.hostname, jwks.pathname]).toEqual(["identity", "/.well-known/jwks.json"]);
  });

  it("gives the gateway the issuer and audience identity signs with", () => {
    const gateway = config("gateway");
    const identity = config("identity");
    expect(gateway.JWT_ISSUER).toBe(identity.JWT_ISSUER);
    expect(gateway.JWT_AUDIENCE).toBe(identity.JWT_AUDIENCE);
  });

  it("keeps identity's signing keys in a named volume", () => {
    const keysDir = config("identity").JWT_KEYS_DIR;
    const mount = service("identity")
      .volumes.map((v) => v.split(":"))
      .find(([, target]) => target === keysDir);
    expect(mount, `no volume mounted on ${keysDir}`).toBeDefined();
    expect(Object.keys(compose.volumes)).toContain(mount![0]);
  });

  it("connects every service and the migrations to the Citus coordinator's database", () => {
    const urls = [...SUBGRAPHS.map((s) => s.name), "worker", "migrate"].flatMap((name) =>
      [service(name).environment.DATABASE_URL, service(name).environment.DATABASE_CROSS_TENANT_URL].filter(
        (u): u is string => u !== undefined,
      ),
    );
    // One server and database; the subgraphs as the row-level-security roles, migrations and worker as the owner.
    expect(new Set(urls.map((u) => new URL(u).host + new URL(u).pathname)).size).toBe(1);
    for (const subgraph of SUBGRAPHS) {
      const env = service(subgraph.name).environment;
      expect(new URL(env.DATABASE_URL!).username, subgraph.name).toBe("coditect_app");
      expect(new URL(env.DATABASE_CROSS_TENANT_URL!).username, subgraph.name).toBe("coditect_cross_tenant");
    }
    expect(new URL(service("migrate").environment.DATABASE_URL!).username).toBe("postgres");
    const url = new URL(urls[0]!);
    expect(isCitus(url.hostname)).toBe(true);
    expect(setupScript).toContain(`citus_set_coordinator_host('${url.hostname}', ${url.port})`);
    // The image creates the citus extension in POSTGRES_DB: the tables are distributed only if the
    // services' database is that one, on the coordinator and on every worker alike.
    for (const node of citusNodes) {
      expect(service(node).environment.POSTGRES_DB, node).toBe(url.pathname.slice(1));
    }
  });

  it("registers every Citus worker with the coordinator before migrating", () => {
    const workers = citusNodes.filter(
      (name) => !setupScript?.includes(`citus_set_coordinator_host('${name}'`),
    );
    expect(workers.length).toBeGreaterThanOrEqual(2);
    for (const worker of workers) {
      expect(setupScript).toContain(`citus_add_node('${worker}', 5432)`);
    }
    for (const node of citusNodes) expect(waitsFor("migrate", node), node).toBe(true);
  });

  it("starts each service after what it needs is ready", () => {
    for (const [name, s] of Object.entries(services)) {
      for (const [target, { condition }] of Object.entries(s.depends_on)) {
        const dependency = service(target);
        if (condition === "service_healthy")
          expect(dependency.healthcheck, `${name} -> ${target}`).toBeDefined();
        // A one-shot job that restarted would never count as completed.
        if (condition === "service_completed_successfully") expect(dependency.restart, target).toBe("no");
      }
    }
    for (const subgraph of SUBGRAPHS) {
      expect(service(subgraph.name).depends_on.migrate?.condition).toBe("service_completed_successfully");
      expect(service("gateway").depends_on[subgraph.name]?.condition).toBe("service_healthy");
    }
  });
});
