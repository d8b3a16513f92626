import { onTestFinished } from 'vitest';
import { type WebSocket, WebSocketServer } from 'ws';

/** A frame as the fake hub received it. */
export type Frame = Record<string, unknown> & { type: string };

/** One socket the connector opened to the fake hub, and every frame it sent there. */
export interface HubSocket {
  ws: WebSocket;
  frames: Frame[];
  closedWith: number | undefined;
}

/**
 * A bare `ws` server on loopback that plays a hub just enough for a real connector: it answers
 * `connect` with a valid `connect_ack`, heartbeats with `heartbeat_ack` and reliable messages
 * with `ack`, and records every frame per socket; whatever else it sends is up to the test.
 * Closed when the test ends.
 *
 * @example
 * const hub = startFakeHub();
 * const { connector } = startConnector(await hub.url);
 * hub.state.current?.ws.send(hub.frame('capability_reload', { reload_id: 'r1' }));
 */
export function startFakeHub() {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, maxPayload: 4 * 1024 * 1024 });
  let ids = 0;
  const frame = (type: string, fields: object) => JSON.stringify({ v: 1, id: `hub-${++ids}`, type, ts: Date.now(), ...fields });
  const state = { current: undefined as HubSocket | undefined, sockets: 0, seq: 0, events: [] as Frame[] };
  server.on('connection', (ws) => {
    const socket: HubSocket = { ws, frames: [], closedWith: undefined };
    ws.on('close', (code) => (socket.closedWith = code));
    ws.on('message', (data: Buffer) => {
      const message = JSON.parse(data.toString('utf8')) as Frame;
      if (message.type === 'connect') {
        state.sockets += 1;
        state.current = socket;
        ws.send(
          frame('connect_ack', {
            session_id: `fake-${state.sockets}`,
            heartbeat_interval_ms: 600_000,
            heartbeat_timeout_ms: 600_000,
            server_time: Date.now(),
            max_frame_bytes: 1024 * 1024,
            resume: { status: 'resumed', hub_epoch: 'fake-hub', missed: 0 },
          }),
        );
        return;
      }
      socket.frames.push(message);
      if (message.type === 'heartbeat') ws.send(frame('heartbeat_ack', { seq: message.seq, server_time: Date.now() }));
      if (message.type === 'execution_event') state.events.push(message);
      if (typeof message.seq === 'number' && ['execution_event', 'usage_report', 'messaging_reply'].includes(message.type))
        ws.send(frame('ack', { seq: message.seq }));
    });
  });
  const url = new Promise<string>((resolve) =>
    server.once('listening', () => resolve(`ws://127.0.0.1:${(server.address() as { port: number }).port}/v1/connect`)),
  );
  onTestFinished(
    () =>
      new Promise<void>((resolve) => {
        for (const client of server.clients) client.terminate();
        server.close(() => resolve());
      }),
  );
  /** `state.seq` numbers the hub's reliable messages; `state.events` holds every `execution_event`, from any socket. */
  return { state, url, frame };
}
