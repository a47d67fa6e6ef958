// The stock Apollo Gateway on Apollo Server with their default settings (bench/gateways.ts starts it):
// the same supergraph as ours, and every subgraph fetch carries the signed internal context the
// subgraphs require (one long-lived header minted by the bench for its tenant, so this gateway does no
// per-request signing and no token verification).
import { readFileSync } from "node:fs";
import { ApolloGateway, RemoteGraphQLDataSource } from "@apollo/gateway";
import { ApolloServer } from "@apollo/server";
import { startStandaloneServer } from "@apollo/server/standalone";

const { SUPERGRAPH_PATH, PORT, CONTEXT_HEADER } = process.env;
if (!SUPERGRAPH_PATH || !PORT || !CONTEXT_HEADER) throw new Error("SUPERGRAPH_PATH, PORT and CONTEXT_HEADER");

const gateway = new ApolloGateway({
  supergraphSdl: readFileSync(SUPERGRAPH_PATH, "utf8"),
  buildService: ({ url }) =>
    new RemoteGraphQLDataSource({
      url,
      willSendRequest({ request }) {
        request.http?.headers.set("x-coditect-context", CONTEXT_HEADER);
      },
    }),
});
const server = new ApolloServer({ gateway });
const { url } = await startStandaloneServer(server, { listen: { host: "127.0.0.1", port: Number(PORT) } });
console.log(`apollo gateway ready at ${url}`);
