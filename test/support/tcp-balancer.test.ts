import { createServer, type Server, Socket } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { startTcpBalancer } from './tcp-balancer.ts';
import { onEvents, waitUntil } from './wait-until.ts';

/** A backend that greets each connection with its name, then echoes; `kill` closes it and every socket it holds. */
async function startBackend(name: string): Promise<{ port: number; kill(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.write(`${name}:`);
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const kill = () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      if (!server.listening) return resolve();
      server.close(() => resolve());
    });
  onTestFinished(kill);
  return { port: (server.address() as { port: number }).port, kill };
}

/** A client connection that records what it reads and whether it closed. */
async function connect(port: number) {
  const socket = new Socket();
  const client = { socket, read: '', closed: false };
  socket.on('data', (chunk: Buffer) => void (client.read += chunk.toString()));
  socket.on('close', () => void (client.closed = true));
  socket.on('error', () => {});
  await new Promise<void>((resolve) => socket.connect(port, '127.0.0.1', resolve));
  onTestFinished(() => void socket.destroy());
  return client;
}

type Client = Awaited<ReturnType<typeof connect>>;
const readUntil = (client: Client, check: (read: string) => boolean) =>
  waitUntil(() => check(client.read), [onEvents(client.socket, 'data', 'close')], { what: 'data', describe: () => client.read });

describe('the TCP balancer (test/support/tcp-balancer.ts)', () => {
  it('spreads new connections round-robin and splices bytes both ways, what the client sent first included', async () => {
    const [a, b] = await Promise.all([startBackend('a'), startBackend('b')]);
    const balancer = await startTcpBalancer([{ port: a.port }, { port: b.port }]);
    onTestFinished(() => balancer.close());
    const clients: Client[] = [];
    for (let i = 0; i < 4; i++) {
      const client = await connect(balancer.port);
      // Written before the backend is dialled: it waits in the balancer, in order.
      client.socket.write(`hello${i}`);
      clients.push(client);
    }
    for (const [i, client] of clients.entries()) await readUntil(client, (read) => read.endsWith(`hello${i}`));
    expect(clients.map((c) => c.read)).toEqual(['a:hello0', 'b:hello1', 'a:hello2', 'b:hello3']);
    expect(balancer.openByBackend()).toEqual(
      new Map([
        [a.port, 2],
        [b.port, 2],
      ]),
    );
    expect(balancer.counters).toEqual({ accepted: 4, refused: 0 });
  });

  it("drops a dead backend's connections and sends new ones to the live backends only", async () => {
    const [a, b] = await Promise.all([startBackend('a'), startBackend('b')]);
    const balancer = await startTcpBalancer([{ port: a.port }, { port: b.port }]);
    onTestFinished(() => balancer.close());
    const [onA, onB] = [await connect(balancer.port), await connect(balancer.port)];
    await readUntil(onA, (read) => read === 'a:');
    await readUntil(onB, (read) => read === 'b:');

    await a.kill();
    await waitUntil(() => onA.closed, [onEvents(onA.socket, 'close')], { what: "the dead backend's client to drop" });
    expect(onB.closed).toBe(false);
    // Every new connection lands on b, whichever backend is next in turn.
    const after = [await connect(balancer.port), await connect(balancer.port), await connect(balancer.port)];
    for (const client of after) await readUntil(client, (read) => read.length >= 2);
    expect(after.map((c) => c.read)).toEqual(['b:', 'b:', 'b:']);
    expect(balancer.openByBackend()).toEqual(new Map([[b.port, 4]]));

    // No live backend at all: the connection is closed at once and counted.
    await b.kill();
    const none = await connect(balancer.port);
    await waitUntil(() => none.closed, [onEvents(none.socket, 'close')], { what: 'a connection with no backend to close' });
    expect(balancer.counters.refused).toBe(1);
  });

  it('takes a new backend list for new connections, and closes everything on close()', async () => {
    const [a, b] = await Promise.all([startBackend('a'), startBackend('b')]);
    const balancer = await startTcpBalancer([{ port: a.port }]);
    const first = await connect(balancer.port);
    await readUntil(first, (read) => read === 'a:');
    balancer.setBackends([{ port: b.port }]);
    const second = await connect(balancer.port);
    await readUntil(second, (read) => read === 'b:');
    expect(first.closed).toBe(false);
    expect(() => balancer.setBackends([{ host: '10.0.0.1', port: 80 }])).toThrow(/loopback only/);

    await balancer.close();
    await waitUntil(() => first.closed && second.closed, [onEvents(first.socket, 'close'), onEvents(second.socket, 'close')], {
      what: 'both clients closed',
    });
  });
});
