import type { ServiceMetrics } from "@app/common/metrics";
import type { WebSocketServer } from "ws";

/** Keeps `websocket_connections` at the number of open graphql-ws sockets. */
export function countWebSockets(wsServer: WebSocketServer, metrics: ServiceMetrics) {
  wsServer.on("connection", (socket) => {
    metrics.websockets.inc();
    socket.once("close", () => metrics.websockets.dec());
  });
}
