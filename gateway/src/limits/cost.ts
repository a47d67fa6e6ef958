import type { ExecutionArgs } from "graphql";
import { GraphQLError, getNamedType, isLeafType } from "graphql";
import { type ComplexityEstimator, getComplexity } from "graphql-query-complexity";
import type { Plugin } from "graphql-yoga";
import { LimitCode, limitError } from "./errors.ts";

/**
 * What an operation may cost the platform, counted in objects: every field that returns an object
 * costs 1, scalars and enums cost nothing, and a field with a `first` or `last` argument (a page)
 * multiplies what it selects by that number, or by the schema's default when the client gives none.
 * So `projects(first: 100) { edges { node { tasks(first: 100) { ... } } } }` counts ten thousand tasks,
 * which is what the subgraphs would have to load.
 */
export const listSizeEstimator: ComplexityEstimator = ({ field, args, childComplexity }) => {
  const own = isLeafType(getNamedType(field.type)) ? 0 : 1;
  const size = [args.first, args.last].find((n): n is number => typeof n === "number");
  return own + Math.max(size ?? 1, 0) * childComplexity;
};

/** The cost of one operation with its variables (list sizes often come in variables). */
export function operationCost(
  args: Pick<ExecutionArgs, "schema" | "document" | "variableValues" | "operationName">,
) {
  return getComplexity({
    schema: args.schema,
    query: args.document,
    variables: (args.variableValues ?? undefined) as Record<string, unknown> | undefined,
    operationName: args.operationName ?? undefined,
    estimators: [listSizeEstimator],
  });
}

/**
 * Refuses an operation whose cost is over `maxCost` with QUERY_TOO_COSTLY. It runs just before
 * execution rather than in validation, because page sizes are usually variables, which validation does
 * not see (and yoga caches validation results per document).
 */
export function useCostLimit(options: { maxCost: number }): Plugin {
  const check = (args: ExecutionArgs, refuse: (error: GraphQLError) => void) => {
    let cost: number;
    try {
      cost = operationCost(args);
    } catch (error) {
      // graphql-query-complexity gives up on very large documents: too costly by definition.
      if (error instanceof GraphQLError && /maximum allowed number of nodes/.test(error.message)) {
        refuse(
          limitError(LimitCode.QUERY_TOO_COSTLY, `The operation is too large to cost: ${error.message}`),
        );
      }
      // Otherwise the variables do not fit the operation: execution refuses them with a better message.
      return;
    }
    if (cost > options.maxCost)
      refuse(
        limitError(
          LimitCode.QUERY_TOO_COSTLY,
          `The operation may cost ${cost}, over the limit of ${options.maxCost}: ask for smaller pages (first/last) or fewer nested lists.`,
          { cost, maxCost: options.maxCost },
        ),
      );
  };
  return {
    onExecute({ args, setResultAndStopExecution }) {
      check(args, (error) => setResultAndStopExecution({ errors: [error] }));
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      check(args, (error) => setResultAndStopExecution({ errors: [error] }));
    },
  };
}
