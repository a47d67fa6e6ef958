import { GraphQLError } from "graphql";

/** `extensions.code` of each refusal; clients and dashboards can tell the limits apart. */
export const LimitCode = {
  QUERY_TOO_DEEP: "QUERY_TOO_DEEP",
  TOO_MANY_ALIASES: "TOO_MANY_ALIASES",
  TOO_MANY_DIRECTIVES: "TOO_MANY_DIRECTIVES",
  TOO_MANY_TOKENS: "TOO_MANY_TOKENS",
  QUERY_TOO_COSTLY: "QUERY_TOO_COSTLY",
  /** yoga's own code for a body over `maxRequestBodySize` (HTTP 413). */
  REQUEST_ENTITY_TOO_LARGE: "REQUEST_ENTITY_TOO_LARGE",
  BATCHING_DISABLED: "BATCHING_DISABLED",
  BATCH_TOO_LARGE: "BATCH_TOO_LARGE",
  INTROSPECTION_DISABLED: "INTROSPECTION_DISABLED",
} as const;
export type LimitCode = (typeof LimitCode)[keyof typeof LimitCode];

/** A refusal of the whole request: no data, HTTP 400 (200 for `application/json` clients, as the spec says). */
export function limitError(
  code: LimitCode,
  message: string,
  extensions: Record<string, unknown> = {},
  nodes?: GraphQLError["nodes"],
) {
  return new GraphQLError(message, {
    nodes,
    extensions: { http: { spec: true, status: 400 }, ...extensions, code },
  });
}
