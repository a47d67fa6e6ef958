import { composeServices } from "@apollo/composition";
import { loadSubgraphSdl } from "@app/common/subgraph";
import { parse } from "graphql";
import { SUBGRAPHS, type SubgraphName } from "./subgraphs.ts";

/**
 * Composes the subgraphs' SDL (schema/subgraphs/<name>/*.graphql, or `sdl` in place of a subgraph's
 * files) into a supergraph. Default URLs for a laptop; the gateway overrides each with TENANTS_URL...
 */
export function composeSupergraph(
  sdl: Partial<Record<SubgraphName, string>> = {},
): { supergraphSdl: string; errors?: undefined; hints: string[] } | { errors: string[] } {
  const result = composeServices(
    SUBGRAPHS.map(({ name, port }) => ({
      name,
      url: `http://localhost:${port}/graphql`,
      typeDefs: parse(sdl[name] ?? loadSubgraphSdl(name)),
    })),
  );
  if (result.errors) return { errors: result.errors.map((e) => e.message) };
  return {
    supergraphSdl: `${result.supergraphSdl.trimEnd()}\n`,
    hints: (result.hints ?? []).map((h) => h.toString()),
  };
}
