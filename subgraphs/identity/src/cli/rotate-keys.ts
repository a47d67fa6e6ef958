import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { parseEnv } from "@app/common/env";
import { z } from "zod";
import { identityEnv } from "../env.ts";
import { rotateSigningKeys } from "../modules/keys/keys.service.ts";

const USAGE = `Rotates identity's access-token signing key without downtime.

The new key is published in the JWKS at once and starts signing after --publish-lead seconds (running
identity processes re-read the key file every JWT_KEYS_RELOAD_SECONDS). The key it replaces stays
published until its last token has expired (activation + --token-ttl + --margin), then leaves the JWKS;
the next rotation removes it from the file.

Usage:
  npm run keys:rotate [-- --publish-lead <s>] [--token-ttl <s>] [--margin <s>]

Options:
  --publish-lead <s>  seconds between publishing and signing (default 900: longer than the gateway's
                      JWKS_CACHE_SECONDS (600) plus JWT_KEYS_RELOAD_SECONDS, and identity's JWKS
                      max-age of 300 s for other verifiers)
  --token-ttl <s>     access-token lifetime (default: ACCESS_TOKEN_TTL_SECONDS, 900)
  --margin <s>        extra time the old key stays published (default 120)
  -h, --help          this help

Environment:
  JWT_KEYS_DIR        the key folder identity uses (default .data/keys)
`;

const env = parseEnv(
  identityEnv.pick({ JWT_KEYS_DIR: true, ACCESS_TOKEN_TTL_SECONDS: true }).extend({
    // npm runs workspace scripts inside subgraphs/identity/; a relative folder means relative to where it was typed.
    INIT_CWD: z.string().default(process.cwd()),
  }),
);

function seconds(value: string | undefined, fallback: number, what: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`${what} must be a whole number of seconds, got "${value}"\n\n${USAGE}`);
    process.exit(2);
  }
  return n;
}

const { values } = parseArgs({
  options: {
    "publish-lead": { type: "string" },
    "token-ttl": { type: "string" },
    margin: { type: "string" },
    help: { type: "boolean", short: "h" },
  },
});
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}

const dir = resolve(env.INIT_CWD, env.JWT_KEYS_DIR);
try {
  const result = await rotateSigningKeys(dir, {
    publishLeadSeconds: seconds(values["publish-lead"], 900, "--publish-lead"),
    tokenTtlSeconds: seconds(values["token-ttl"], env.ACCESS_TOKEN_TTL_SECONDS, "--token-ttl"),
    marginSeconds: seconds(values.margin, 120, "--margin"),
  });
  console.log(`new key ${result.kid}: published now, signs from ${result.activatesAt}`);
  for (const k of result.retiring) console.log(`key ${k.kid}: leaves the JWKS at ${k.retiresAt}`);
  for (const kid of result.removed) console.log(`key ${kid}: retired, removed from ${dir}`);
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
}
