import { SIGNING_ALGORITHM } from "../keys/keys.service.ts";

/**
 * The OpenID Provider metadata (OpenID Connect Discovery 1.0) for `/.well-known/openid-configuration`:
 * what a relying party needs to verify our access tokens by itself: the issuer and where its keys are.
 * Sign-in happens through the GraphQL API (logIn, refreshToken), not the OAuth endpoints, so none of
 * those is announced; `grant_types_supported` says so.
 */
export function discoveryDocument(issuer: string) {
  const base = issuer.replace(/\/+$/, "");
  return {
    issuer,
    jwks_uri: `${base}/.well-known/jwks.json`,
    response_types_supported: ["token"],
    subject_types_supported: ["public"],
    id_token_signing_alg_values_supported: [SIGNING_ALGORITHM],
    token_endpoint_auth_methods_supported: ["none"],
    grant_types_supported: ["refresh_token"],
    scopes_supported: ["read", "write"],
    claims_supported: ["sub", "iss", "aud", "exp", "iat", "jti", "tid", "roles", "scope", "sid"],
  };
}
