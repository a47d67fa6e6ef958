import { parseEnv, port, redisUrl, subgraphEnv } from "@app/common/env";
import { z } from "zod";

/** A duration in whole seconds: at least one, at most a year. */
const seconds = z.coerce
  .number()
  .int()
  .min(1)
  .max(366 * 86_400);

export const identityEnv = subgraphEnv.extend({
  PORT: port.default(4002),
  /** Folder holding the signing keys; created with a fresh Ed25519 key on first start. */
  JWT_KEYS_DIR: z.string().min(1).default(".data/keys"),
  /** How often the key file is re-read, so a key added by `npm run keys:rotate` is picked up without a restart. */
  JWT_KEYS_RELOAD_SECONDS: z.coerce.number().int().min(1).max(300).default(30),
  /** 32 bytes, base64: encrypts TOTP secrets at rest. Unset: derived from INTERNAL_CONTEXT_SECRET. */
  MFA_ENCRYPTION_KEY: z
    .base64("must be base64")
    .refine((v) => Buffer.from(v, "base64").length === 32, "must be 32 bytes (base64)")
    .optional(),
  JWT_ISSUER: z.url().default("http://localhost:4002"),
  JWT_AUDIENCE: z.string().min(1).default("coditect-platform"),
  ACCESS_TOKEN_TTL_SECONDS: z.coerce.number().int().min(60).max(86_400).default(900),
  /**
   * Log-in failure counters (shared by every replica) and the ended-session list the gateway reads.
   * Without it: counters live in this process only and ended sessions' access tokens stay valid
   * until they expire (ACCESS_TOKEN_TTL_SECONDS).
   */
  REDIS_URL: redisUrl.optional(),
  /** A session (refresh-token family) ends this long after log-in, however often it is refreshed. */
  REFRESH_TOKEN_TTL_SECONDS: seconds.default(30 * 86_400),
  PASSWORD_RESET_TTL_SECONDS: seconds.default(3_600),
  EMAIL_VERIFICATION_TTL_SECONDS: seconds.default(86_400),
  INVITATION_TTL_SECONDS: seconds.default(7 * 86_400),
  /** Failed log-ins allowed per account, and per client address, within LOGIN_FAILURE_WINDOW_SECONDS. */
  LOGIN_MAX_FAILURES_PER_ACCOUNT: z.coerce.number().int().min(1).default(10),
  LOGIN_MAX_FAILURES_PER_ADDRESS: z.coerce.number().int().min(1).default(100),
  LOGIN_FAILURE_WINDOW_SECONDS: seconds.default(900),
  /** Password-reset requests allowed per e-mail address, and per client address, in an hour. */
  PASSWORD_RESET_MAX_PER_ACCOUNT: z.coerce.number().int().min(1).default(5),
  PASSWORD_RESET_MAX_PER_ADDRESS: z.coerce.number().int().min(1).default(50),
});
export type IdentityConfig = z.infer<typeof identityEnv>;

export const loadEnv = () => parseEnv(identityEnv);
