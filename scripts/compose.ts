// `npm run compose`: composes schema/subgraphs/*/ into schema/supergraph.graphql (committed; CI fails when stale).
import { writeFileSync } from "node:fs";
import { composeServices } from "@apollo/composition";
import { loadSubgraphSdl } from "@app/common/subgraph";
import { parse } from "graphql";
import { SUBGRAPHS } from "./subgraphs.ts";

const result = composeServices(
  SUBGRAPHS.map(({ name, port }) => ({
    name,
    // Default URLs for a laptop; the gateway overrides each with TENANTS_URL, IDENTITY_URL, ...
    url: `http://localhost:${port}/graphql`,
    typeDefs: parse(loadSubgraphSdl(name)),
  })),
);
if (result.errors) {
  for (const error of result.errors) console.error(`composition error: ${error.message}`);
  process.exit(1);
}
for (const hint of result.hints ?? []) console.warn(`hint: ${hint.toString()}`);
const target = new URL("../schema/supergraph.graphql", import.meta.url);
writeFileSync(target, `${result.supergraphSdl.trimEnd()}\n`);
console.log("wrote schema/supergraph.graphql");
