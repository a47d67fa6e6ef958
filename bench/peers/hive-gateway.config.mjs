// Hive Gateway's configuration for bench/gateways.ts: its defaults, plus the signed internal context the
// subgraphs require on every subgraph fetch (one long-lived header minted by the bench for its tenant,
// so this gateway does no per-request signing and no token verification).
import { defineConfig } from "@graphql-hive/gateway";

const header = process.env.CONTEXT_HEADER;
if (!header) throw new Error("CONTEXT_HEADER");

export const gatewayConfig = defineConfig({
  // HIVE_DEDUPLICATE=0 turns off its default sharing of identical in-flight subgraph queries between
  // client requests (bench/gateways.ts --hive-no-dedupe), for a like-for-like comparison.
  ...(process.env.HIVE_DEDUPLICATE === "0"
    ? { transportEntries: { "*.http": { options: { deduplicateInflightRequests: false } } } }
    : {}),
  plugins: () => [
    {
      onFetch({ options, setOptions }) {
        setOptions({ ...options, headers: { ...options.headers, "x-coditect-context": header } });
      },
    },
  ],
});
