import { GraphQLError, GraphQLScalarType, Kind } from "graphql";

/**
 * Bad DateTime input is the client's mistake: BAD_USER_INPUT (without a code the subgraph would mask it
 * as an unexpected error), quoting the value, since a scalar does not know which field it is in.
 */
const badDateTime = (value: unknown) =>
  new GraphQLError(
    `DateTime cannot represent ${JSON.stringify(value)}: use an ISO-8601 date-time such as 2026-01-31T09:00:00Z`,
    { extensions: { code: "BAD_USER_INPUT" } },
  );

/** ISO-8601 date-time with offset; output from Date objects or ISO strings. */
export const DateTimeScalar = new GraphQLScalarType({
  name: "DateTime",
  serialize(value) {
    const date = value instanceof Date ? value : new Date(String(value));
    if (Number.isNaN(date.getTime())) throw new GraphQLError("DateTime cannot represent an invalid date");
    return date.toISOString();
  },
  parseValue(value) {
    const date = typeof value === "string" ? new Date(value) : new Date(Number.NaN);
    if (Number.isNaN(date.getTime())) throw badDateTime(value);
    return date.toISOString();
  },
  parseLiteral(ast) {
    if (ast.kind !== Kind.STRING || Number.isNaN(new Date(ast.value).getTime())) {
      throw badDateTime(ast.kind === Kind.STRING ? ast.value : ast.kind);
    }
    return new Date(ast.value).toISOString();
  },
});

/** Any JSON value, output only (activity diffs); arguments never take it. */
export const JSONScalar = new GraphQLScalarType({
  name: "JSON",
  serialize: (value) => value,
  parseValue() {
    throw new GraphQLError("JSON is an output-only type");
  },
  parseLiteral() {
    throw new GraphQLError("JSON is an output-only type");
  },
});
