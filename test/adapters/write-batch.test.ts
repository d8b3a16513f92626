import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { afterHeldWrites, beforeHeldWrites, heldWritesDone, holdWrites, MAX_HELD_BYTES } from '../../src/adapters/write-batch.ts';
import { until } from '../support/loopback.ts';

const open: Array<{ close(): void }> = [];
afterEach(() => {
  for (const thing of open.splice(0)) thing.close();
});

/** A connected pair on loopback: the server's socket (which writes) and every frame the client received. */
async function pair() {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  open.push(server);
  await new Promise((resolve) => server.once('listening', resolve));
  const client = new WebSocket(`ws://127.0.0.1:${(server.address() as { port: number }).port}`);
  open.push(client);
  const received: string[] = [];
  client.on('message', (data: Buffer) => received.push(data.toString('utf8')));
  const sender = await new Promise<WebSocket>((resolve) => server.once('connection', resolve));
  await new Promise((resolve) => client.once('open', resolve));
  const tcp = (sender as unknown as { _socket: Socket })._socket;
  // Each call of the socket's write path is one system call (a corked batch goes to `_writev`).
  const writes: string[] = [];
  const socket = tcp as unknown as Record<'_write' | '_writev', (...args: unknown[]) => void>;
  for (const name of ['_write', '_writev'] as const) {
    const original = socket[name].bind(tcp);
    socket[name] = (...args: unknown[]) => {
      writes.push(name);
      original(...args);
    };
  }
  return { sender, tcp, received, writes };
}

describe('holdWrites', () => {
  it('holds the frames of one turn and writes them all at its end', async () => {
    const { sender, tcp, received } = await pair();
    for (const n of [1, 2, 3]) {
      holdWrites(sender);
      sender.send(`frame ${n}`);
    }
    expect([tcp.writableCorked, tcp.writableLength > 0]).toEqual([1, true]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(tcp.writableCorked).toBe(0);
    await until(() => received.length === 3);
    expect(received).toEqual(['frame 1', 'frame 2', 'frame 3']);
  });

  it('writes a batch once it holds MAX_HELD_BYTES, without waiting for the turn to end', async () => {
    const { sender, tcp, received } = await pair();
    const frame = 'x'.repeat(1024);
    const count = Math.ceil((3 * MAX_HELD_BYTES) / frame.length);
    for (let i = 0; i < count; i++) {
      holdWrites(sender);
      sender.send(frame);
    }
    // Loopback takes a few dozen KiB at once: only the last batch (and a frame past the bound) is still held.
    expect(tcp.writableCorked).toBe(1);
    expect(tcp.writableLength).toBeLessThanOrEqual(MAX_HELD_BYTES + 2 * (frame.length + 8));
    await until(() => received.length === count);
    expect(new Set(received)).toEqual(new Set([frame]));
  });

  it("runs a task queued for the turn's end before the held frames go, in their write, whichever was queued first", async () => {
    const { sender, received, writes } = await pair();
    const order: string[] = [];
    const send = (frame: string) => {
      holdWrites(sender);
      sender.send(frame);
    };
    beforeHeldWrites(() => {
      order.push('task 1');
      send('ack 1');
    });
    send('frame 1');
    beforeHeldWrites(() => {
      order.push('task 2');
      send('ack 2');
    });
    expect(order).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(order).toEqual(['task 1', 'task 2']);
    await until(() => received.length === 3);
    expect(received).toEqual(['frame 1', 'ack 1', 'ack 2']);
    expect(writes).toEqual(['_writev']);
  });

  it('still runs the other tasks and writes what is held when a task throws, then throws its error', async () => {
    const { sender, received } = await pair();
    const vitestHandlers = process.rawListeners('uncaughtException') as Array<(error: Error) => void>;
    process.removeAllListeners('uncaughtException');
    const thrown = new Promise<unknown>((resolve) => process.once('uncaughtException', resolve));
    try {
      holdWrites(sender);
      sender.send('frame');
      beforeHeldWrites(() => {
        throw new Error('task failed');
      });
      beforeHeldWrites(() => {
        holdWrites(sender);
        sender.send('after the failure');
      });
      expect(await thrown).toEqual(new Error('task failed'));
    } finally {
      for (const handler of vitestHandlers) process.on('uncaughtException', handler);
    }
    await until(() => received.length === 2);
    expect(received).toEqual(['frame', 'after the failure']);
  });

  it("runs a task queued for after the turn's write once the held frames have gone, and what it sends goes in the next write", async () => {
    const { sender, tcp, received, writes } = await pair();
    const order: string[] = [];
    const send = (frame: string) => {
      holdWrites(sender);
      sender.send(frame);
    };
    afterHeldWrites(() => {
      // The batch is written already: nothing is corked or waiting in the socket.
      order.push(`after: corked ${tcp.writableCorked}, writes ${writes.length}`);
      send('late');
    });
    send('frame 1');
    beforeHeldWrites(() => send('ack'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(order).toEqual(['after: corked 0, writes 1']);
    await until(() => received.length === 3);
    expect(received).toEqual(['frame 1', 'ack', 'late']);
    expect(writes).toEqual(['_writev', '_writev']);
  });

  it('resolves heldWritesDone once the held frames are written, in the order of the tasks run after the write', async () => {
    const { sender, tcp, writes } = await pair();
    const order: string[] = [];
    const done = heldWritesDone().then(() => order.push(`done: corked ${tcp.writableCorked}, writes ${writes.length}`));
    afterHeldWrites(() => order.push('after'));
    holdWrites(sender);
    sender.send('frame');
    expect(writes).toEqual([]);
    await done;
    expect(order).toEqual(['after', 'done: corked 0, writes 1']);
  });

  it('still writes the batch and runs the later tasks when one run after the write throws, then throws its error', async () => {
    const { sender, received } = await pair();
    const vitestHandlers = process.rawListeners('uncaughtException') as Array<(error: Error) => void>;
    process.removeAllListeners('uncaughtException');
    const thrown = new Promise<unknown>((resolve) => process.once('uncaughtException', resolve));
    const ran: string[] = [];
    try {
      afterHeldWrites(() => {
        throw new Error('after task failed');
      });
      afterHeldWrites(() => ran.push('second'));
      holdWrites(sender);
      sender.send('frame');
      expect(await thrown).toEqual(new Error('after task failed'));
    } finally {
      for (const handler of vitestHandlers) process.on('uncaughtException', handler);
    }
    expect(ran).toEqual(['second']);
    await until(() => received.length === 1);
    expect(received).toEqual(['frame']);
  });
});
