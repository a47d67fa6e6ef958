import { parseEnv, port, subgraphEnv } from "@app/common/env";
import { z } from "zod";

export const identityEnv = subgraphEnv.extend({
  PORT: port.default(4002),
  /** Folder holding the signing keys; created with a fresh Ed25519 key on first start. */
  JWT_KEYS_DIR: z.string().min(1).default(".data/keys"),
  /** How often the key file is re-read, so a key added by `npm run keys:rotate` is picked up without a restart. */
  JWT_KEYS_RELOAD_SECONDS: z.coerce.number().int().min(1).max(300).default(30),
  JWT_ISSUER: z.url().default("http://localhost:4002"),
  JWT_AUDIENCE: z.string().min(1).default("coditect-platform"),
  ACCESS_TOKEN_TTL_SECONDS: z.coerce.number().int().min(60).max(86_400).default(900),
});
export type IdentityConfig = z.infer<typeof identityEnv>;

export const loadEnv = () => parseEnv(identityEnv);
