import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server as SocketIoServer, type Socket as SocketIoSocket } from 'socket.io';
import { WebSocketServer, type WebSocket } from 'ws';
import { createHub } from '../../src/hub/index.ts';
import { type Codec, createCodec, type Outbound } from '../../src/protocol/index.ts';
import { COMPLETED_INDEX, exchangeFrames, TOOL } from './frames.ts';
import { withFields } from '../../src/util/with-fields.ts';

/** Who does the exchange: the runtime, or one of its baselines. */
export type Contender = 'runtime' | 'ws-codec' | 'ws-frames' | 'ws-echo' | 'socket.io';

export const BENCH_TOKEN = 'bench-token';
export const DEVICE_ID = 'bench-device';
export const TENANT_ID = 'bench';

/** The hub side of a contender: where the device connects, and one execution to its end. */
export interface ServerSide {
  url: string;
  /** Resolves once the device side is connected and can take work. */
  deviceReady(): Promise<void>;
  /** Sends one request; resolves when its terminal reply is back. */
  execute(): Promise<void>;
  close(): Promise<void>;
}

/** Starts the hub side of `contender` on a free loopback port. */
export async function startServerSide(contender: Contender): Promise<ServerSide> {
  switch (contender) {
    case 'runtime':
      return startHubSide();
    case 'ws-echo':
      return startWsSide(1);
    case 'ws-frames':
      return startWsSide(COMPLETED_INDEX + 1, exchangeFrames().replies.length);
    case 'ws-codec':
      return startWsSide(COMPLETED_INDEX + 1, exchangeFrames().replies.length, createCodec({ receiver: 'hub' }));
    case 'socket.io':
      return startSocketIoSide();
  }
}

async function startHubSide(): Promise<ServerSide> {
  const hub = createHub({ staticToken: BENCH_TOKEN });
  const { url } = await hub.listen({ port: 0, host: '127.0.0.1' });
  const request = { job_type: 'tool', tool_name: TOOL.name, inputs: { ...TOOL.inputs } } as const;
  return {
    url,
    deviceReady: () =>
      new Promise((resolve) => {
        const check = () => (hub.devices().some((d) => d.device_id === DEVICE_ID) ? resolve() : setTimeout(check, 5));
        check();
      }),
    async execute() {
      const { status } = await hub.execute(DEVICE_ID, request, { tenantId: TENANT_ID }).result;
      if (status !== 'completed') throw new Error(`execution ended ${status}`);
    },
    close: () => hub.close(),
  };
}

/**
 * A bare `ws` server: sends the request frame, and counts the replies without reading them. An
 * execution ends at reply number `endsAt` of every `perRequest` (the device answers in order).
 * With a `codec`, every request is encoded (stamped, validated, serialised) and every reply
 * decoded (parsed, validated) as the hub does: the floor of any protocol that checks its frames.
 */
async function startWsSide(endsAt: number, perRequest = endsAt, codec?: Codec): Promise<ServerSide> {
  const { request } = exchangeFrames();
  const requestMessage = JSON.parse(request) as Outbound;
  const nextRequest = (): string => {
    if (!codec) return request;
    // Built as the runtime builds its frames (withFields: one hidden class per shape).
    const encoded = codec.encode(withFields(requestMessage, { id: undefined, ts: undefined }) as Outbound);
    if (!encoded.ok) throw encoded.error;
    return encoded.value.frame;
  };
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => server.once('listening', resolve));
  const pending: Array<() => void> = [];
  let socket: WebSocket | undefined;
  const connected = new Promise<void>((resolve) => {
    server.once('connection', (ws) => {
      socket = ws;
      let received = 0;
      ws.on('message', (data: Buffer) => {
        if (codec && !codec.decode(data).ok) throw new Error('a reply did not decode');
        received++;
        if (received % perRequest === endsAt % perRequest) pending.shift()?.();
      });
      resolve();
    });
  });
  return {
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`,
    deviceReady: () => connected,
    execute: () =>
      new Promise<void>((resolve) => {
        pending.push(resolve);
        socket!.send(nextRequest());
      }),
    close: () =>
      new Promise<void>((resolve) => {
        for (const client of server.clients) client.terminate();
        server.close(() => resolve());
      }),
  };
}

/** socket.io (WebSocket transport only, as the others): the request emitted with an acknowledgement. */
async function startSocketIoSide(): Promise<ServerSide> {
  const request = JSON.parse(exchangeFrames().request) as Record<string, unknown>;
  const http = createServer();
  const io = new SocketIoServer(http, { transports: ['websocket'], serveClient: false });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  let socket: SocketIoSocket | undefined;
  let events = 0;
  const connected = new Promise<void>((resolve) => {
    io.once('connection', (s) => {
      socket = s;
      // A hub reads what the device reports; so does this one.
      s.on('execution_event', () => void events++);
      s.on('usage_report', () => void events++);
      resolve();
    });
  });
  return {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`,
    deviceReady: () => connected,
    execute: () => new Promise<void>((resolve) => socket!.emit('execution_request', request, () => resolve())),
    close: async () => {
      io.disconnectSockets(true);
      await io.close();
    },
  };
}
