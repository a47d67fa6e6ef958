import { useDisableIntrospection } from "@envelop/disable-introspection";
import { blockFieldSuggestionsPlugin } from "@escape.tech/graphql-armor-block-field-suggestions";
import { maxAliasesPlugin } from "@escape.tech/graphql-armor-max-aliases";
import { maxDepthPlugin } from "@escape.tech/graphql-armor-max-depth";
import { maxDirectivesPlugin } from "@escape.tech/graphql-armor-max-directives";
import { maxTokensPlugin } from "@escape.tech/graphql-armor-max-tokens";
import type { GraphQLError, ValidationContext } from "graphql";
import type { Plugin } from "graphql-yoga";
import { useCostLimit } from "./cost.ts";
import { LimitCode, limitError } from "./errors.ts";

export { LimitCode } from "./errors.ts";

export interface QueryLimits {
  maxDepth: number;
  maxAliases: number;
  maxDirectives: number;
  maxTokens: number;
  maxCost: number;
  /** Operations per batched request; 0: batching is refused. */
  maxBatch: number;
  introspection: "always" | "authenticated" | "never";
}

/**
 * graphql-armor reports a refusal as a bare "Syntax Error" GraphQLError. Instead of letting it throw,
 * each plugin hands the refusal here, which reports the same message under a stable code: in validation
 * as a validation error, in parsing (tokens, where there is no validation context yet) by throwing.
 */
function reject(code: LimitCode) {
  return [
    (context: ValidationContext | null, error: GraphQLError) => {
      const coded = limitError(code, error.message.replace(/^Syntax Error: /, ""));
      if (context) context.reportError(coded);
      else throw coded;
    },
  ];
}

/** The principal the gateway verified for this request (HTTP: `onParams`; WebSocket: connection_init). */
function isAuthenticated(context: Record<string, unknown>): boolean {
  return Boolean(context.principal ?? context.websocketPrincipal);
}

/**
 * The query limits, as yoga plugins. Everything here runs on the parsed document (tokens while
 * parsing, the rest in validation, cost just before execution), so a refused operation never reaches
 * the query planner, let alone a subgraph.
 */
export function useQueryLimits(limits: QueryLimits): Plugin[] {
  const armor = { exposeLimits: true, propagateOnRejection: false };
  const plugins: Plugin[] = [
    maxTokensPlugin({ ...armor, n: limits.maxTokens, onReject: reject(LimitCode.TOO_MANY_TOKENS) }),
    maxDepthPlugin({
      ...armor,
      n: limits.maxDepth,
      // Fragments count as a level of nesting only through the fields they select.
      flattenFragments: true,
      onReject: reject(LimitCode.QUERY_TOO_DEEP),
    }),
    maxAliasesPlugin({ ...armor, n: limits.maxAliases, onReject: reject(LimitCode.TOO_MANY_ALIASES) }),
    maxDirectivesPlugin({
      ...armor,
      n: limits.maxDirectives,
      onReject: reject(LimitCode.TOO_MANY_DIRECTIVES),
    }),
    useCostLimit({ maxCost: limits.maxCost }),
    useBatchLimit(limits.maxBatch),
    useCloseAfterTooLarge(),
  ];
  if (limits.introspection !== "always") {
    plugins.push(
      useDisableIntrospection({
        disableIf: ({ context }) =>
          limits.introspection === "never" || !isAuthenticated(context as Record<string, unknown>),
      }) as Plugin,
      // "Did you mean ...?" would otherwise spell out the schema to whoever may not introspect it.
      blockFieldSuggestionsPlugin(),
      useIntrospectionErrorCode(
        limits.introspection === "never"
          ? "Introspection is disabled on this gateway."
          : "Introspection needs a valid access token.",
      ),
    );
  }
  return plugins;
}

/**
 * yoga refuses batches too (`batching` option), with a generic BAD_REQUEST; this comes first and says
 * which rule the request broke. yoga's own check stays as a backstop with the same limit.
 */
function useBatchLimit(maxBatch: number): Plugin {
  return {
    onRequestParse() {
      return {
        onRequestParseDone({ requestParserResult }) {
          if (!Array.isArray(requestParserResult)) return;
          if (maxBatch === 0)
            throw limitError(
              LimitCode.BATCHING_DISABLED,
              "Batched requests are not accepted: send one operation per request.",
              {
                http: { status: 400 },
              },
            );
          if (requestParserResult.length > maxBatch)
            throw limitError(
              LimitCode.BATCH_TOO_LARGE,
              `A batch may hold at most ${maxBatch} operations; this one has ${requestParserResult.length}.`,
              { http: { status: 413 } },
            );
        },
      };
    },
  };
}

/**
 * graphql-js's NoSchemaIntrospectionCustomRule reports every introspection field, without a code: one
 * coded error says it once.
 */
function useIntrospectionErrorCode(message: string): Plugin {
  const isIntrospectionError = (error: GraphQLError) =>
    !error.extensions.code && /introspection/i.test(error.message);
  return {
    onValidate() {
      return ({ result, setResult }) => {
        const refused = result.filter(isIntrospectionError);
        if (refused.length === 0) return;
        setResult([
          ...result.filter((error) => !isIntrospectionError(error)),
          limitError(LimitCode.INTROSPECTION_DISABLED, message, {}, refused[0]!.nodes),
        ]);
      };
    },
  };
}

/**
 * A request refused for its size may not have been read to the end; the connection is closed after the
 * answer instead of reused, or the client's next request on it would meet the unread rest.
 */
export function useCloseAfterTooLarge(): Plugin {
  return {
    onResponse({ response }) {
      if (response.status === 413) response.headers.set("connection", "close");
    },
  };
}
