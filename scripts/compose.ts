// `npm run compose`: composes schema/subgraphs/*/ into schema/supergraph.graphql (committed; CI fails when stale).
import { writeFileSync } from "node:fs";
import { composeSupergraph } from "./supergraph.ts";

const result = composeSupergraph();
if (result.errors) {
  for (const error of result.errors) console.error(`composition error: ${error}`);
  process.exit(1);
}
for (const hint of result.hints) console.warn(`hint: ${hint}`);
const target = new URL("../schema/supergraph.graphql", import.meta.url);
writeFileSync(target, result.supergraphSdl);
console.log("wrote schema/supergraph.graphql");
