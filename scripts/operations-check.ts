import { apiSchemaOf, validateDocument } from "@app/common/supergraph";
import { createPrismaClient } from "@app/db";
import { getOperationAST, parse } from "graphql";
import type { SubgraphName } from "./subgraphs.ts";
import { composeSupergraph } from "./supergraph.ts";

/** An operation clients rely on: one of the platform's trusted documents or a tenant's registered one. */
export interface ClientOperation {
  origin: "trusted" | "registered";
  name: string;
  /** Registered operations: the organization that registered it. */
  tenantId?: string;
  document: string;
}

export interface Breakage {
  operation: ClientOperation;
  errors: string[];
}

export type SchemaCheck =
  | { compositionErrors: string[] }
  | { compositionErrors?: undefined; breakages: Breakage[] };

/** Trusted documents (hash -> document) under their operation names. */
export function trustedOperations(documents: ReadonlyMap<string, string>): ClientOperation[] {
  return [...documents].map(([hash, document]) => ({
    origin: "trusted",
    name: getOperationAST(parse(document))?.name?.value ?? `sha256:${hash}`,
    document,
  }));
}

/**
 * Every tenant's registered operations: the one place outside the tenants subgraph that reads them, and
 * across tenants on purpose (a schema change breaks every organization's alike). `databaseUrl` must be
 * a role row-level security lets see every tenant (coditect_cross_tenant, or a superuser).
 */
export async function registeredOperations(databaseUrl: string): Promise<ClientOperation[]> {
  const prisma = createPrismaClient({ connectionString: databaseUrl, poolSize: 1 });
  try {
    const rows = await prisma.registeredOperation.findMany({
      select: { tenantId: true, name: true, document: true },
      orderBy: [{ tenantId: "asc" }, { name: "asc" }],
    });
    return rows.map((row) => ({ origin: "registered", ...row }));
  } finally {
    await prisma.$disconnect();
  }
}

/**
 * Composes the supergraph from the subgraphs' SDL (`sdl` replaces a subgraph's files, for a change under
 * review) and validates every operation against the schema clients would see. Composition errors come
 * first: without a supergraph there is nothing to check against.
 */
export function checkSchema(
  operations: readonly ClientOperation[],
  sdl: Partial<Record<SubgraphName, string>> = {},
): SchemaCheck {
  const composed = composeSupergraph(sdl);
  if (composed.errors) return { compositionErrors: composed.errors };
  const schema = apiSchemaOf(composed.supergraphSdl);
  const breakages = operations.flatMap((operation) => {
    const { errors } = validateDocument(schema, operation.document);
    return errors.length ? [{ operation, errors }] : [];
  });
  return { breakages };
}

/** One line per broken operation, naming it, its origin and GraphQL's complaint. */
export function describeBreakage({ operation, errors }: Breakage): string {
  const what =
    operation.origin === "trusted"
      ? `trusted operation ${operation.name} (schema/operations)`
      : `registered operation ${operation.name} of organization ${operation.tenantId}`;
  return `${what}: ${errors.join("; ")}`;
}
