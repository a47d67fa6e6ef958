import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import type { IncomingHttpHeaders } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { listen, type RunningServer } from "@app/common";
import { createPrismaClient, databaseRoleUrls, newId, type PrismaClient } from "@app/db";
import { createGatewayApp } from "../gateway/src/app.ts";
import { gatewayEnv } from "../gateway/src/env.ts";
import { createBillingApp } from "../subgraphs/billing/src/app.ts";
import { billingEnv } from "../subgraphs/billing/src/env.ts";
import { createIdentityApp } from "../subgraphs/identity/src/app.ts";
import { identityEnv } from "../subgraphs/identity/src/env.ts";
import { createProjectsApp } from "../subgraphs/projects/src/app.ts";
import { projectsEnv } from "../subgraphs/projects/src/env.ts";
import { createTenantsApp } from "../subgraphs/tenants/src/app.ts";
import { tenantsEnv } from "../subgraphs/tenants/src/env.ts";
import type { DnsResolver } from "../subgraphs/tenants/src/modules/domains/dns.ts";
import { createWorkerApp, type WorkerApp } from "../worker/src/app.ts";
import { workerEnv } from "../worker/src/env.ts";

export interface Platform {
  gatewayUrl: string;
  /** The same endpoint over WebSocket (graphql-ws). */
  gatewayWsUrl: string;
  subgraphUrls: Record<"tenants" | "identity" | "projects" | "billing", string>;
  internalSecret: string;
  /** Identity's signing-key folder (`signing-keys.json`): tests mint tokens with the real key. */
  keysDir: string;
  issuer: string;
  /** GDPR exports' folder (EXPORT_DIR of the tenants subgraph and the worker), temporary. */
  exportDir: string;
  /** The owner's client: tests seed and inspect every tenant's rows with it (no row-level security). */
  prisma: PrismaClient;
  /** SQL statements the services sent (both their roles' clients) since the last reset. */
  queries: string[];
  /** Every GraphQL request a subgraph received, in order (health probes left out). */
  subgraphCalls: SubgraphCall[];
  /** The worker, when `options.worker` started one (tests send it jobs through `worker.boss`). */
  worker?: WorkerApp;
  /** The gateway's settings as the platform built it, before `options.gateway`. */
  gatewaySettings: Record<string, string>;
  close(): Promise<void>;
}

export interface SubgraphCall {
  subgraph: string;
  headers: IncomingHttpHeaders;
}

export interface PlatformOptions {
  /** Realtime through Redis (subscriptions across replicas); without it PostgreSQL NOTIFY carries events. */
  redisUrl?: string;
  /**
   * Also run the worker (outbox relay, jobs). Only one relay leads per database: give platforms that
   * need events a database of their own (test/scratch-db.ts).
   */
  worker?: boolean;
  /** Share these with another platform to make replicas of one deployment. */
  internalSecret?: string;
  keysDir?: string;
  issuer?: string;
  /** Identity settings on top of the defaults (`LOGIN_MAX_FAILURES_PER_ACCOUNT`...), as in its environment. */
  identity?: Record<string, string>;
  /** Gateway settings on top of the defaults (`QUERY_MAX_DEPTH`, `INTROSPECTION`...), as in its environment. */
  gateway?: Record<string, string>;
  /** Tenants subgraph settings on top of the defaults (`ORGANIZATION_DELETION_GRACE_SECONDS`...). */
  tenants?: Record<string, string>;
  /** Replaces DNS for custom-domain verification (tests publish TXT records in it). */
  dns?: DnsResolver;
  /** Billing settings on top of the defaults (`STRIPE_SECRET_KEY`, `STRIPE_API_BASE`...). */
  billing?: Record<string, string>;
  /** Worker settings on top of the defaults (`STRIPE_*`, `BILLING_GRACE_PERIOD_SECONDS`...). */
  workerSettings?: Record<string, string>;
}

/**
 * The real gateway and the four real subgraphs (and optionally the worker), in this process, on port 0,
 * against the given database. Configuration goes through each service's own env schema, as in production.
 */
export async function startPlatform(databaseUrl: string, options: PlatformOptions = {}): Promise<Platform> {
  const internalSecret = options.internalSecret ?? randomBytes(32).toString("hex");
  const ownKeys = !options.keysDir;
  const keysDir = options.keysDir ?? (await mkdtemp(join(tmpdir(), "coditect-keys-")));
  const queries: string[] = [];
  const exportDir = await mkdtemp(join(tmpdir(), "coditect-exports-"));
  const prisma = createPrismaClient({ connectionString: databaseUrl, poolSize: 3 });
  // The services connect as in production: the application role (row-level security) and the
  // cross-tenant role for the named places that cross tenants.
  const roles = databaseRoleUrls(databaseUrl);
  const appPrisma = createPrismaClient({
    connectionString: roles.app,
    poolSize: 5,
    onQuery: (sql) => queries.push(sql),
  });
  const crossTenant = createPrismaClient({
    connectionString: roles.crossTenant,
    poolSize: 2,
    onQuery: (sql) => queries.push(sql),
  });
  const services = { prisma: appPrisma, crossTenant };
  const common = {
    DATABASE_URL: roles.app,
    DATABASE_CROSS_TENANT_URL: roles.crossTenant,
    INTERNAL_CONTEXT_SECRET: internalSecret,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent",
    NODE_ENV: "test",
    EXPORT_DIR: exportDir,
    ...(options.redisUrl ? { REDIS_URL: options.redisUrl } : {}),
  };
  const servers: RunningServer[] = [];
  const closers: Array<() => Promise<void>> = [];
  const serve = async (handler: Parameters<typeof listen>[0]) => {
    const server = await listen(handler, 0, "127.0.0.1");
    servers.push(server);
    return server;
  };
  const subgraphCalls: SubgraphCall[] = [];
  const counted =
    (name: string, handler: Parameters<typeof listen>[0]): Parameters<typeof listen>[0] =>
    (req, res) => {
      if (req.url?.startsWith("/graphql")) subgraphCalls.push({ subgraph: name, headers: req.headers });
      return handler(req, res);
    };

  const tenantsApp = createTenantsApp(tenantsEnv.parse({ ...common, ...options.tenants }), {
    ...services,
    dns: options.dns,
  });
  // Its Redis clients (organization-state notifier, plan-limits invalidation) would keep a process alive.
  closers.push(tenantsApp.close);
  const tenants = await serve(counted("tenants", tenantsApp.yoga));
  const projectsApp = createProjectsApp(projectsEnv.parse(common), services);
  closers.push(projectsApp.close);
  const projects = await serve(counted("projects", projectsApp.yoga));
  const billingApp = createBillingApp(billingEnv.parse({ ...common, ...options.billing }), services);
  closers.push(billingApp.close);
  const billing = await serve(counted("billing", billingApp.yoga));
  // Identity's issuer names its own URL, known only once it listens: listen first, then build.
  let identityHandler: Parameters<typeof listen>[0] = (_req, res) => res.writeHead(503).end();
  const identity = await serve(counted("identity", (req, res) => identityHandler(req, res)));
  const issuer = options.issuer ?? identity.url;
  const identityApp = await createIdentityApp(
    identityEnv.parse({ ...common, JWT_KEYS_DIR: keysDir, JWT_ISSUER: issuer, ...options.identity }),
    services,
  );
  identityHandler = identityApp.yoga;
  closers.push(identityApp.close);

  const subgraphUrls = {
    tenants: `${tenants.url}/graphql`,
    identity: `${identity.url}/graphql`,
    projects: `${projects.url}/graphql`,
    billing: `${billing.url}/graphql`,
  };
  const gatewaySettings: Record<string, string> = {
    ...common,
    TENANTS_URL: subgraphUrls.tenants,
    IDENTITY_URL: subgraphUrls.identity,
    PROJECTS_URL: subgraphUrls.projects,
    BILLING_URL: subgraphUrls.billing,
    JWKS_URL: `${identity.url}/.well-known/jwks.json`,
    JWT_ISSUER: issuer,
  };
  const gatewayApp = await createGatewayApp(gatewayEnv.parse({ ...gatewaySettings, ...options.gateway }));
  const gateway = await serve(gatewayApp.yoga);
  gatewayApp.attach(gateway.server);

  let worker: WorkerApp | undefined;
  if (options.worker) {
    const mailDir = await mkdtemp(join(tmpdir(), "coditect-mail-"));
    const started = await createWorkerApp(
      // The worker crosses tenants (relay, jobs) and owns pg-boss's schema: the owner's URL.
      workerEnv.parse({
        ...common,
        DATABASE_URL: databaseUrl,
        MAIL_DIR: mailDir,
        RELAY_POLL_MS: "20",
        ...options.workerSettings,
      }),
      { pollingIntervalSeconds: 0.5 },
    );
    await started.start(0);
    worker = started;
    closers.push(async () => {
      await started.stop();
      await rm(mailDir, { recursive: true, force: true });
    });
  }

  return {
    gatewayUrl: `${gateway.url}/graphql`,
    gatewayWsUrl: `${gateway.url.replace("http", "ws")}/graphql`,
    subgraphUrls,
    internalSecret,
    keysDir,
    issuer,
    exportDir,
    prisma,
    queries,
    subgraphCalls,
    worker,
    gatewaySettings,
    async close() {
      await gatewayApp.close();
      await Promise.all(servers.map((s) => s.close()));
      for (const close of closers) await close();
      await Promise.all([prisma.$disconnect(), appPrisma.$disconnect(), crossTenant.$disconnect()]);
      if (ownKeys) await rm(keysDir, { recursive: true, force: true });
      await rm(exportDir, { recursive: true, force: true });
    },
  };
}

/**
 * One more gateway in front of a platform's subgraphs, with other settings (production defaults, other
 * limits); on port 0. The platform's own gateway is untouched.
 */
export async function startGateway(platform: Platform, settings: Record<string, string>) {
  const app = await createGatewayApp(gatewayEnv.parse({ ...platform.gatewaySettings, ...settings }));
  const server = await listen(app.yoga, 0, "127.0.0.1");
  app.attach(server.server);
  return {
    url: `${server.url}/graphql`,
    origin: server.url,
    app,
    async close() {
      await app.close();
      await server.close();
    },
  };
}

export interface GraphQLResponse<T = Record<string, unknown>> {
  status: number;
  data?: T | null;
  errors?: Array<{ message: string; extensions?: { code?: string; [k: string]: unknown } }>;
  headers: Headers;
}

/** POSTs one GraphQL operation; `token` becomes `Authorization: Bearer`. */
// biome-ignore lint/suspicious/noExplicitAny: tests read response shapes they assert on themselves
export async function gql<T = Record<string, any>>(
  url: string,
  query: string,
  options: { variables?: Record<string, unknown>; token?: string; headers?: Record<string, string> } = {},
): Promise<GraphQLResponse<T>> {
  const response = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/graphql-response+json, application/json",
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      ...options.headers,
    },
    body: JSON.stringify({ query, variables: options.variables }),
  });
  const body = (await response.json()) as Omit<GraphQLResponse<T>, "status" | "headers">;
  return { ...body, status: response.status, headers: response.headers };
}

/**
 * The statements that read or write data, without the transaction around each tenant operation
 * (BEGIN, `SET LOCAL app.tenant_id`, COMMIT) that row-level security needs.
 */
export function dataQueries(statements: readonly string[]): string[] {
  return statements.filter((sql) => !/^\s*(BEGIN|COMMIT|ROLLBACK|SET LOCAL app\.tenant_id\b)/i.test(sql));
}

let counter = 0;
/** A unique e-mail per call, so concurrent tests never collide on the global e-mail table. */
export function uniqueEmail(label = "user"): string {
  counter += 1;
  return `${label}-${Date.now().toString(36)}-${counter}-${randomBytes(3).toString("hex")}@example.test`;
}

/** The password of every user the helpers below create. */
const PASSWORD = "correct horse battery staple";

export const SIGN_UP = /* GraphQL */ `
  mutation SignUp($input: SignUpInput!) {
    signUp(input: $input) { accessToken tokenType expiresIn organizationId user { id email name role } }
  }
`;

/** Signs up a fresh user with a fresh organization through the gateway; returns its token and ids. */
export async function signUpTenant(gatewayUrl: string, label = "tenant") {
  const email = uniqueEmail(label);
  const res = await gql<{ signUp: { accessToken: string; organizationId: string; user: { id: string } } }>(
    gatewayUrl,
    SIGN_UP,
    {
      variables: {
        input: { email, password: PASSWORD, organizationName: `${label} Inc` },
      },
    },
  );
  if (!res.data?.signUp) throw new Error(`sign-up failed: ${JSON.stringify(res.errors)}`);
  return {
    email,
    token: res.data.signUp.accessToken,
    tenantId: res.data.signUp.organizationId,
    userId: res.data.signUp.user.id,
  };
}

/**
 * Puts an organization on a plan directly (the subscription row local-mode billing writes): for tests
 * that need more than the free plan's limits (many projects in one organization). Call it before the
 * organization's first write, while no service has its limits cached.
 */
export async function onPlan(platform: Platform, tenantId: string, planCode = "ENTERPRISE") {
  await platform.prisma.subscription.create({
    data: { tenantId, id: newId(), planCode, status: "ACTIVE", currentPeriodStart: new Date() },
  });
}

/** The link secret an invitation e-mail carries (from the outbox row its job reads). */
export async function invitationToken(platform: Platform, invitationId: string): Promise<string> {
  const rows = await platform.prisma.outboxEvent.findMany({
    where: { topic: "invitation.sent", payload: { path: ["invitationId"], equals: invitationId } },
    orderBy: { seq: "desc" },
    take: 1,
  });
  return (rows[0]!.payload as { token: string }).token;
}

/** A new user joins `owner`'s organization with `role` by invitation; returns their session. */
export async function joinOrganization(
  platform: Platform,
  owner: { token: string },
  role: string,
  label = "member",
) {
  const email = uniqueEmail(label);
  const invited = await gql(
    platform.gatewayUrl,
    `mutation($input: InviteMemberInput!) { inviteMember(input: $input) { invitation { id } } }`,
    { token: owner.token, variables: { input: { email, role } } },
  );
  if (!invited.data?.inviteMember) throw new Error(`invitation failed: ${JSON.stringify(invited.errors)}`);
  const res = await gql(
    platform.gatewayUrl,
    `mutation($input: AcceptInvitationInput!) { acceptInvitation(input: $input) { accessToken refreshToken user { id } } }`,
    {
      variables: {
        input: {
          token: await invitationToken(platform, invited.data.inviteMember.invitation.id),
          password: PASSWORD,
          name: label,
        },
      },
    },
  );
  if (!res.data?.acceptInvitation) throw new Error(`acceptance failed: ${JSON.stringify(res.errors)}`);
  const accepted = res.data.acceptInvitation;
  return {
    email,
    token: accepted.accessToken as string,
    userId: accepted.user.id as string,
    refreshToken: accepted.refreshToken as string,
  };
}
