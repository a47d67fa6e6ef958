import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import type { GraphQLResponse } from "./platform.ts";

/**
 * The platform's typed documents (schema/operations/generated) as a client sends them: by id only. The
 * id is the hash codegen embedded in the document, the same one the gateway's manifest holds.
 */
export function documentIdOf(document: TypedDocumentNode<unknown, never>): string {
  const hash = (document as { __meta__?: { hash?: string } }).__meta__?.hash;
  if (!hash) throw new Error("not a persisted document: run npm run codegen");
  return hash;
}

/** POSTs `{ documentId, variables }` (no query text); `token` becomes `Authorization: Bearer`. */
export async function gqlDocument<TData, TVariables>(
  url: string,
  document: TypedDocumentNode<TData, TVariables>,
  options: { variables?: TVariables; token?: string } = {},
): Promise<GraphQLResponse<TData>> {
  return postGraphQL<TData>(
    url,
    { documentId: documentIdOf(document as never), variables: options.variables },
    options.token,
  );
}

/** POSTs any GraphQL-over-HTTP body (`documentId`, `extensions.persistedQuery`...) and reads the answer. */
export async function postGraphQL<TData = Record<string, unknown>>(
  url: string,
  body: Record<string, unknown>,
  token?: string,
): Promise<GraphQLResponse<TData>> {
  const response = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/graphql-response+json, application/json",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify(body),
  });
  const answer = (await response.json()) as Omit<GraphQLResponse<TData>, "status" | "headers">;
  return { ...answer, status: response.status, headers: response.headers };
}
