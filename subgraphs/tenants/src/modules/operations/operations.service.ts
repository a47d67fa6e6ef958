import {
  appError,
  badUserInput,
  ErrorCode,
  forbidden,
  notFound,
  requirePrincipal,
  requireRole,
} from "@app/common";
import { OPERATION_NAME, SHA256_HEX, sha256Hex } from "@app/common/persisted-documents";
import { validateDocument } from "@app/common/supergraph";
import { parseInput } from "@app/common/validation";
import { emitEvent, isUniqueViolation, newId } from "@app/db";
import { type GraphQLSchema, Kind, type OperationDefinitionNode } from "graphql";
import { z } from "zod";
import type { Context } from "../../context.ts";

/** Registered operations per organization: enough for any partner integration, bounded for storage. */
const MAX_REGISTERED_OPERATIONS = 500;
const MAX_DOCUMENT_LENGTH = 20_000;

const operationName = z
  .string()
  .regex(
    OPERATION_NAME,
    "must be letters, digits and underscores, start with a letter or underscore, at most 100 characters",
  );

const registerOperationInput = z.object({
  name: operationName,
  // Kept byte for byte (no trimming): the hash partners compute must be the hash of what they sent.
  document: z
    .string()
    .min(1, "must not be empty")
    .max(MAX_DOCUMENT_LENGTH, `must be at most ${MAX_DOCUMENT_LENGTH} characters`),
});

const deleteInput = z.object({ name: operationName });

const lookupArgs = z.union([
  z.object({ name: operationName, sha256Hash: z.null().optional() }),
  z.object({ name: z.null().optional(), sha256Hash: z.string().regex(SHA256_HEX) }),
]);

const OPERATION_TYPE = { query: "QUERY", mutation: "MUTATION", subscription: "SUBSCRIPTION" } as const;

/**
 * Checks a document meant to be registered against the API schema; returns its one operation. Every
 * problem is a BAD_USER_INPUT on `input.document` quoting GraphQL's own message and where it is
 * (line:column), so the author can fix the document.
 */
function checkDocument(schema: GraphQLSchema, source: string): OperationDefinitionNode {
  const { document, errors } = validateDocument(schema, source);
  if (!document) throw badUserInput("input.document", errors.join("; "));
  const operations = document.definitions.filter(
    (d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION,
  );
  if (operations.length !== 1)
    throw badUserInput(
      "input.document",
      `must hold exactly one operation (it holds ${operations.length}); fragments may come with it`,
    );
  if (errors.length > 0) throw badUserInput("input.document", errors.join("; "));
  return operations[0]!;
}

/**
 * An ADMIN signed in as a user. A key that could register operations could run anything it liked, so
 * keys neither register nor delete them, even a key an ADMIN created.
 */
function requireSignedInAdmin(ctx: Context) {
  const principal = requireRole(ctx.principal, "ADMIN");
  if (principal.credential === "apiKey")
    throw forbidden("API keys cannot manage registered operations: sign in as an ADMIN.");
  return principal;
}

/**
 * `apiSchema`: the schema of the supergraph the gateways serve (SUPERGRAPH_PATH). The row and its
 * `registered_operation.created` event (the organization's audit trail) commit together.
 */
export async function registerOperation(ctx: Context, input: unknown, apiSchema: GraphQLSchema) {
  const { tenantId, userId } = requireSignedInAdmin(ctx);
  const data = parseInput(registerOperationInput, input);
  const operation = checkDocument(apiSchema, data.document);
  const sha256Hash = sha256Hex(data.document);
  try {
    const created = await ctx.db.$transaction(async (tx) => {
      if ((await tx.registeredOperation.count()) >= MAX_REGISTERED_OPERATIONS)
        throw appError(
          ErrorCode.BAD_USER_INPUT,
          `An organization may register at most ${MAX_REGISTERED_OPERATIONS} operations: delete unused ones first.`,
          { field: "input.name" },
        );
      const row = await tx.registeredOperation.create({
        data: {
          tenantId,
          id: newId(),
          name: data.name,
          sha256Hash,
          document: data.document,
          operationType: OPERATION_TYPE[operation.operation],
          createdBy: userId,
        },
      });
      await emitEvent(tx, tenantId, {
        topic: "registered_operation.created",
        payload: { operationId: row.id, name: row.name, sha256Hash, createdBy: userId },
      });
      return row;
    });
    return { operation: created };
  } catch (error) {
    if (!isUniqueViolation(error)) throw error;
    const existing = await ctx.db.registeredOperation.findFirst({
      where: { OR: [{ name: data.name }, { sha256Hash }] },
      select: { name: true },
    });
    if (existing?.name === data.name)
      throw badUserInput("input.name", "is already registered: delete it first to replace it");
    throw badUserInput("input.document", `is already registered as ${existing?.name ?? "another operation"}`);
  }
}

export async function deleteRegisteredOperation(ctx: Context, input: unknown) {
  const { tenantId, userId } = requireSignedInAdmin(ctx);
  const { name } = parseInput(deleteInput, input);
  const deleted = await ctx.db.$transaction(async (tx) => {
    const existing = await tx.registeredOperation.findFirst({ where: { name } });
    if (!existing) throw notFound("Registered operation", name);
    await tx.registeredOperation.deleteMany({ where: { id: existing.id } });
    await emitEvent(tx, tenantId, {
      topic: "registered_operation.deleted",
      payload: { operationId: existing.id, name, deletedBy: userId },
    });
    return existing;
  });
  return { operation: deleted };
}

export function registeredOperations(ctx: Context) {
  requireRole(ctx.principal, "ADMIN");
  return ctx.db.registeredOperation.findMany({ orderBy: { name: "asc" } });
}

/**
 * The gateway's lookup (the field is @inaccessible: only the gateway, which signs the context, reaches
 * it). Any principal of the organization may resolve its registered operations: running one still goes
 * through the gateway's validation and each field's own authorisation.
 */
export function registeredOperationDocument(ctx: Context, args: unknown) {
  requirePrincipal(ctx);
  const parsed = lookupArgs.safeParse(args);
  if (!parsed.success) throw badUserInput("name", "give exactly one of name and sha256Hash (64 hex digits)");
  const { name, sha256Hash } = parsed.data;
  return ctx.db.registeredOperation.findFirst({
    where: name ? { name } : { sha256Hash: sha256Hash! },
  });
}
