import { canWrite, forbidden } from "@app/common";
import { getOperationAST } from "graphql";
import type { Plugin } from "graphql-yoga";
import type { GatewayContext } from "../context.ts";

/**
 * Scopes, enforced once for every subgraph: a credential without `write` (a read-only API key) runs
 * queries and subscriptions only. Subgraphs check roles besides (a read key acts as VIEWER, which may
 * run no mutation), so either check alone refuses it.
 */
export function useScopes(): Plugin {
  return {
    onExecute({ args, setResultAndStopExecution }) {
      const { principal } = args.contextValue as unknown as GatewayContext;
      if (!principal || canWrite(principal)) return;
      if (getOperationAST(args.document, args.operationName)?.operation !== "mutation") return;
      setResultAndStopExecution({
        errors: [
          forbidden("This credential is read-only: it may run queries and subscriptions, not mutations."),
        ],
      });
    },
  };
}
