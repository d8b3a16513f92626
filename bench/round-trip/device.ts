/**
 * The device side of the round-trip benchmark, in a process of its own (the hub side is the
 * benchmark's process), started with `startChild(device.ts, { args: [contender, url] })`. It
 * says it is ready once it can take work, and runs until its parent ends it.
 *
 * - `runtime`: a real connector whose `echo` tool returns at once.
 * - `ws-echo`: a raw `ws` client sending back every frame it gets.
 * - `ws-frames`: a raw `ws` client answering each request with the runtime's four reply frames.
 * - `ws-codec`: the same, with every frame decoded and encoded by the protocol's codec.
 * - `socket.io`: a socket.io client answering `execution_request` with the same four messages,
 *   the terminal one as the acknowledgement.
 */
import { io } from 'socket.io-client';
import WebSocket from 'ws';
import { z } from 'zod';
import { createConnector } from '../../src/connector/connector.ts';
import { createCodec, type Outbound } from '../../src/protocol/index.ts';
import { serveCommands } from '../support/child.ts';
import { type GcStats, startGcStats } from '../support/gc-stats.ts';
import { COMPLETED_INDEX, exchangeFrames, TOOL } from './frames.ts';
import { BENCH_TOKEN, type Contender, DEVICE_ID, TENANT_ID } from './contenders.ts';
import { withFields } from '../../src/util/with-fields.ts';

const [contender, url] = process.argv.slice(2) as [Contender, string];
// The parent needs to know when work can start, and what this process allocated and promoted while it measured.
let gc: { stop(): GcStats } | undefined;
const ready = () =>
  serveCommands({
    'gc.start': () => void (gc = startGcStats()),
    'gc.stop': () => gc?.stop(),
  });

switch (contender) {
  case 'runtime': {
    const connector = createConnector({
      url,
      token: BENCH_TOKEN,
      deviceId: DEVICE_ID,
      tenantId: TENANT_ID,
      // Room for the pipelined window: the hub sends no more than the device has announced.
      executions: { maxConcurrency: 1_024, maxQueue: 1_024 },
    });
    connector.handle('tool', TOOL.name, { input: z.object({ text: z.string() }), run: ({ text }) => ({ text }) });
    connector.start();
    await connector.waitFor((status) => status.connection.state === 'connected');
    ready();
    break;
  }
  case 'ws-echo': {
    const socket = new WebSocket(url);
    socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
    socket.on('open', ready);
    break;
  }
  case 'ws-frames': {
    const { replies } = exchangeFrames();
    const socket = new WebSocket(url);
    socket.on('message', () => {
      for (const reply of replies) socket.send(reply);
    });
    socket.on('open', ready);
    break;
  }
  case 'ws-codec': {
    // As the connector's codec does: every request decoded, every reply stamped, validated, serialised.
    const codec = createCodec({ receiver: 'device' });
    const replies = exchangeFrames().replies.map((frame) => JSON.parse(frame) as Outbound);
    const socket = new WebSocket(url);
    socket.on('message', (data: Buffer) => {
      if (!codec.decode(data).ok) throw new Error('a request did not decode');
      for (const reply of replies) {
        const encoded = codec.encode(withFields(reply, { id: undefined, ts: undefined }) as Outbound);
        if (!encoded.ok) throw encoded.error;
        socket.send(encoded.value.frame);
      }
    });
    socket.on('open', ready);
    break;
  }
  case 'socket.io': {
    const replies = exchangeFrames().replies.map((frame) => JSON.parse(frame) as Record<string, unknown>);
    const socket = io(url, { transports: ['websocket'] });
    socket.on('execution_request', (_request: unknown, ack: (completed: unknown) => void) => {
      socket.emit('execution_event', replies[0]);
      socket.emit('execution_event', replies[1]);
      ack(replies[COMPLETED_INDEX]);
      socket.emit('usage_report', replies[3]);
    });
    socket.on('connect', ready);
    break;
  }
  default:
    console.error(`unknown contender ${String(contender)}`);
    process.exit(2);
}
