import { afterEach } from 'vitest';
import WebSocket from 'ws';
import { createHub, type Hub, type HubClock, type HubEvents, type HubOptions } from '../../src/hub/index.ts';

export const TOKEN = 'tok-3f1d9c2e-secret';

/** A parsed frame as the client received it. */
export type Frame = Record<string, unknown> & { type: string };

export interface Closed {
  code: number;
  reason: string;
}

const running: Hub[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((hub) => hub.close()));
});

/** Starts a hub on a free loopback port; it is closed after the test. */
export async function startHub(options: HubOptions = { staticToken: TOKEN }): Promise<{ hub: Hub; url: string; port: number }> {
  const hub = createHub(options);
  running.push(hub);
  const { url, port } = await hub.listen({ port: 0, host: '127.0.0.1' });
  return { hub, url, port };
}

/**
 * A raw `ws` client that queues what it receives, so tests await the next frame or the close
 * instead of sleeping.
 */
export class TestClient {
  readonly closed: Promise<Closed>;
  readonly #ws: WebSocket;
  readonly #frames: Frame[] = [];
  #waiter: { resolve: (frame: Frame) => void; reject: (error: Error) => void } | undefined;
  #closedWith: Closed | undefined;
  #seq = 0;

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    // Socket errors are followed by 'close', which is what tests await.
    ws.on('error', () => {});
    ws.on('message', (data: Buffer) => {
      const frame = JSON.parse(data.toString('utf8')) as Frame;
      if (this.#waiter) {
        this.#waiter.resolve(frame);
        this.#waiter = undefined;
      } else this.#frames.push(frame);
    });
    this.closed = new Promise((resolve) => {
      ws.on('close', (code: number, reason: Buffer) => {
        this.#closedWith = { code, reason: reason.toString('utf8') };
        this.#waiter?.reject(new Error(`socket closed (${code}) while waiting for a frame`));
        this.#waiter = undefined;
        resolve(this.#closedWith);
      });
    });
  }

  /** Opens a socket; resolves once it is open. */
  static open(url: string): Promise<TestClient> {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    const client = new TestClient(ws);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(client));
      ws.once('error', reject);
    });
  }

  /** Opens a socket and completes the handshake; resolves with the client and its `connect_ack`. */
  static async connect(
    url: string,
    who: { device_id?: string; tenant_id?: string; token?: string } = {},
  ): Promise<{ client: TestClient; ack: Frame }> {
    const client = await TestClient.open(url);
    client.send(connectFrame(who));
    const ack = await client.next();
    if (ack.type !== 'connect_ack') throw new Error(`expected connect_ack, got ${JSON.stringify(ack)}`);
    return { client, ack };
  }

  /** Sends an object as JSON, a string as is (a text frame), a Buffer as a binary frame. */
  send(frame: object | string | Buffer): void {
    this.#ws.send(typeof frame === 'string' || Buffer.isBuffer(frame) ? frame : JSON.stringify(frame));
  }

  /** Closes the socket normally; resolves once it is closed. */
  close(): Promise<Closed> {
    this.#ws.close(1000, 'bye');
    return this.closed;
  }

  /** Sends a heartbeat; returns its seq. */
  heartbeat(): number {
    this.#seq += 1;
    this.send(envelope('heartbeat', { seq: this.#seq }));
    return this.#seq;
  }

  /** The next frame received; rejects if the socket closes first. */
  next(): Promise<Frame> {
    const queued = this.#frames.shift();
    if (queued) return Promise.resolve(queued);
    if (this.#closedWith) return Promise.reject(new Error(`socket closed (${this.#closedWith.code})`));
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
    });
  }
}

let ids = 0;
/** A v1 frame of `type` with the envelope filled in. */
export function envelope(type: string, fields: object = {}): Frame {
  ids += 1;
  return { v: 1, id: `m-${ids}`, type, ts: Date.now(), ...fields };
}

export function connectFrame(who: { device_id?: string; tenant_id?: string; token?: string } = {}): Frame {
  return envelope('connect', {
    device_id: who.device_id ?? 'device-1',
    tenant_id: who.tenant_id ?? 'tenant-1',
    token: who.token ?? TOKEN,
    client: { name: 'hub-test', version: '0.0.0' },
  });
}

/** Resolves with the arguments of the next `event` the hub emits. */
export function nextEvent<K extends keyof HubEvents>(hub: Hub, event: K): Promise<HubEvents[K]> {
  return new Promise((resolve) => {
    // A generic K does not select one of EventEmitter's typed overloads.
    (hub.once as (event: K, listener: (...args: HubEvents[K]) => void) => Hub)(event, (...args) => resolve(args));
  });
}

/**
 * A clock that only moves when told to: `advance()` runs the due timers in time order,
 * including those they schedule within the advanced span.
 */
export class ManualClock implements HubClock {
  #now = 1_700_000_000_000;
  #nextId = 1;
  readonly #timers = new Map<number, { at: number; fn: () => void }>();

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): number {
    const id = this.#nextId++;
    this.#timers.set(id, { at: this.#now + ms, fn });
    return id;
  }

  clearTimeout(id: unknown): void {
    this.#timers.delete(id as number);
  }

  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      let due: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.#timers) if (entry[1].at <= target && (!due || entry[1].at < due[1].at)) due = entry;
      if (!due) break;
      this.#timers.delete(due[0]);
      this.#now = due[1].at;
      due[1].fn();
    }
    this.#now = target;
  }
}
