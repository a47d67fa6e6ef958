/**
 * Ended sessions, shared through Redis by identity (which writes) and the gateway (which refuses their
 * access tokens). Access tokens carry their session (refresh-token family) id as `sid`; a key lives as
 * long as an access token does, after which every token of the session has expired anyway.
 */
export const REVOKED_SESSION_PREFIX = "auth:revoked-session:";

/** The Redis key marking session `sid` as ended. */
export function revokedSessionKey(sid: string): string {
  return `${REVOKED_SESSION_PREFIX}${sid}`;
}
