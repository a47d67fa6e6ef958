import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { request } from "node:http";
import { join } from "node:path";
import { decodeJwt, importJWK, type JWK, SignJWT } from "jose";
import { type GraphQLResponse, gql } from "../../../test/platform.ts";

/** gql that throws on errors: for the steps of a test that are not what it asserts. */
// biome-ignore lint/suspicious/noExplicitAny: tests read response shapes they assert on themselves
export async function ok<T = Record<string, any>>(
  url: string,
  query: string,
  options: Parameters<typeof gql>[2] = {},
): Promise<T> {
  const res = await gql<T>(url, query, options);
  if (res.errors?.length || !res.data) throw new Error(JSON.stringify(res.errors));
  return res.data;
}

/** The first error's code (and the whole answer, for the assertion message). */
export const codeOf = (res: GraphQLResponse) => res.errors?.[0]?.extensions?.code;

/** POSTs a query with a Host header of our choosing (fetch does not let a caller set Host). */
export function gqlWithHost(
  url: string,
  host: string,
  query: string,
  extraHeaders: Record<string, string> = {},
  // biome-ignore lint/suspicious/noExplicitAny: tests read response shapes they assert on themselves
): Promise<{ status: number; data?: any; errors?: GraphQLResponse["errors"] }> {
  const target = new URL(url);
  const body = JSON.stringify({ query });
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        method: "POST",
        headers: {
          host,
          "content-type": "application/json",
          "content-length": Buffer.byteLength(body),
          ...extraHeaders,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          try {
            resolve({ status: res.statusCode ?? 0, ...JSON.parse(Buffer.concat(chunks).toString("utf8")) });
          } catch (error) {
            reject(error);
          }
        });
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** An access token like identity's, signed with its real key, with other roles: for role checks. */
export async function tokenWithRoles(keysDir: string, token: string, roles: string[]): Promise<string> {
  const stored = JSON.parse(await readFile(join(keysDir, "signing-keys.json"), "utf8")) as Array<{
    kid: string;
    createdAt: string;
    privateJwk: JWK;
  }>;
  const newest = stored.reduce((x, y) => (x.createdAt >= y.createdAt ? x : y));
  const key = await importJWK(newest.privateJwk, "EdDSA");
  const { iat: _iat, exp: _exp, jti: _jti, ...claims } = decodeJwt(token);
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ ...claims, roles, iat: now, exp: now + 300, jti: randomUUID() })
    .setProtectedHeader({ alg: "EdDSA", kid: newest.kid, typ: "at+jwt" })
    .sign(key);
}
