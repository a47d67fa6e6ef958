import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Supergraph } from "@apollo/federation-internals";
import { type DocumentNode, type GraphQLError, type GraphQLSchema, parse, validate } from "graphql";

/** The committed supergraph (`npm run compose`), the default everywhere a service needs one. */
export const DEFAULT_SUPERGRAPH_PATH = fileURLToPath(
  new URL("../../../schema/supergraph.graphql", import.meta.url),
);

/**
 * The schema clients see: the supergraph without its join/link machinery and without `@inaccessible`
 * elements, exactly what the gateway validates operations against. Trusted documents (codegen),
 * registered operations (tenants) and `npm run schema:check` all validate against this.
 */
export function apiSchemaOf(supergraphSdl: string): GraphQLSchema {
  return Supergraph.build(supergraphSdl).apiSchema().toGraphQLJSSchema();
}

/** `apiSchemaOf` the supergraph file at `path`. */
export function loadApiSchema(path: string = DEFAULT_SUPERGRAPH_PATH): GraphQLSchema {
  return apiSchemaOf(readFileSync(path, "utf8"));
}

/**
 * Parses `source` and validates it against `schema`, as the gateway would before running it. `errors`
 * quote GraphQL's messages with where they are (line:column); `document` is null when it does not parse.
 */
export function validateDocument(
  schema: GraphQLSchema,
  source: string,
): { document: DocumentNode | null; errors: string[] } {
  let document: DocumentNode;
  try {
    document = parse(source);
  } catch (error) {
    return { document: null, errors: [describe(error as GraphQLError)] };
  }
  return { document, errors: validate(schema, document).map(describe) };
}

function describe(error: GraphQLError): string {
  const where = error.locations?.map((l) => `${l.line}:${l.column}`).join(", ");
  return where ? `${error.message} (at ${where})` : error.message;
}
