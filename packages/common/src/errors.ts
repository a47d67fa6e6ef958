import { GraphQLError } from "graphql";

/** Stable `extensions.code` values clients can switch on. */
export const ErrorCode = {
  BAD_USER_INPUT: "BAD_USER_INPUT",
  UNAUTHENTICATED: "UNAUTHENTICATED",
  FORBIDDEN: "FORBIDDEN",
  NOT_FOUND: "NOT_FOUND",
  CONFLICT: "CONFLICT",
  RATE_LIMITED: "RATE_LIMITED",
  PLAN_LIMIT: "PLAN_LIMIT",
  /** logIn: the password was right and the account has a second factor; `extensions.challenge` continues. */
  SECOND_FACTOR_REQUIRED: "SECOND_FACTOR_REQUIRED",
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** An expected business failure: shown to the client as is (never masked). */
export function appError(code: ErrorCode, message: string, extensions: Record<string, unknown> = {}) {
  return new GraphQLError(message, { extensions: { ...extensions, code } });
}

export const unauthenticated = (message = "Authentication required: send a valid access token.") =>
  appError(ErrorCode.UNAUTHENTICATED, message, { http: { status: 401 } });

export const forbidden = (message = "You are not allowed to do this.") =>
  appError(ErrorCode.FORBIDDEN, message);

export const notFound = (what: string, id: string) =>
  appError(ErrorCode.NOT_FOUND, `${what} ${id} was not found.`);

/**
 * Bad input, naming the field; `field` is the dotted path in the input (`input.email`). `fields` has the
 * same shape as for zod failures, so clients read one list whatever found the problem.
 */
export const badUserInput = (field: string, message: string) =>
  appError(ErrorCode.BAD_USER_INPUT, `${field}: ${message}`, { field, fields: [{ field, message }] });

/** Turns zod issues into one BAD_USER_INPUT error that names every offending field. */
export function fromZodIssues(
  issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }>,
  prefix = "input",
) {
  const fields = issues.map((i) => ({
    field: [prefix, ...i.path.map(String)].join("."),
    message: i.message,
  }));
  const message = fields.map((f) => `${f.field}: ${f.message}`).join("; ");
  return appError(ErrorCode.BAD_USER_INPUT, message, { fields });
}
