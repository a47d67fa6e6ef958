import { useCSRFPrevention } from "@graphql-yoga/plugin-csrf-prevention";
import { GraphQLError } from "graphql";
import type { Plugin } from "graphql-yoga";

/**
 * Headers that prove a request went through a CORS preflight: yoga's own, and the two Apollo's
 * clients send (Apollo Client's `apollo-require-preflight`, Apollo Kotlin/iOS's operation name).
 */
export const CSRF_HEADERS = ["x-graphql-yoga-csrf", "apollo-require-preflight", "x-apollo-operation-name"];

/**
 * CSRF prevention (yoga's plugin): a request a browser would send cross-site without a preflight
 * (a GET, or a POST of a form or text/plain) is refused with 403 unless it carries one of
 * {@link CSRF_HEADERS}; `Content-Type: application/json` already forces the preflight. The refusal gets
 * a code and a message saying what to send.
 */
export function useCsrfPrevention(): Plugin {
  const csrf = useCSRFPrevention({ requestHeaders: CSRF_HEADERS }) as Plugin;
  return {
    onRequestParse(payload) {
      try {
        return csrf.onRequestParse?.(payload);
      } catch (error) {
        if (!(error instanceof GraphQLError)) throw error;
        throw new GraphQLError(
          `Refused (CSRF prevention): send Content-Type: application/json, or a ${CSRF_HEADERS[0]} header.`,
          { extensions: { ...error.extensions, code: "CSRF_PREVENTED" } },
        );
      }
    },
  };
}
