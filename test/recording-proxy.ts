import http from "node:http";
import type { AddressInfo } from "node:net";

/**
 * What the gateway sends a subgraph, seen on the wire: a proxy in front of the subgraph at `target`
 * records each GraphQL request's body and counts the TCP connections opened to it.
 */
export async function startRecordingProxy(target: string) {
  const upstream = new URL(target);
  const bodies: Array<{ query: string; variables?: { representations?: unknown[] } }> = [];
  let connections = 0;
  const agent = new http.Agent({ keepAlive: true });
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      if (req.url?.startsWith("/graphql") && body.length) bodies.push(JSON.parse(body.toString()));
      const forward = http.request(
        upstream,
        { method: req.method, agent, headers: { ...req.headers, host: upstream.host } },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      forward.on("error", () => res.destroy());
      forward.end(body);
    });
  });
  server.on("connection", () => {
    connections += 1;
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}${upstream.pathname}`,
    bodies,
    connections: () => connections,
    close: async () => {
      agent.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
