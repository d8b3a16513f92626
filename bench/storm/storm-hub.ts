/**
 * The hub of the storm benchmark, on one loopback port for its whole life, restarted two ways:
 * gracefully (`hub.restart()`: every session gets `1012 server_restart`) or as a crash (every
 * socket destroyed without a close frame, the listener gone, and after `downMs` a fresh hub
 * listening on the same port, as a restarted process would). It times every session it opens
 * on its own clock.
 */
import { createHub, type Hub } from '../../src/hub/index.ts';

export type StormKind = 'restart' | 'crash';

export class StormHub {
  #hub: Hub;
  #port = 0;
  /** First `session_open` of each device since the last `watch()`, ms on `performance.now()`. */
  #opened = new Map<string, number>();
  #token: string;

  private constructor(token: string) {
    this.#token = token;
    this.#hub = this.#create();
  }

  /** A hub accepting `token`, listening on a free loopback port. */
  static async start(token: string): Promise<StormHub> {
    const stormHub = new StormHub(token);
    const { port } = await stormHub.#hub.listen({ port: 0, host: '127.0.0.1' });
    stormHub.#port = port;
    return stormHub;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.#port}/v1/connect`;
  }

  /** Devices with an open session now. */
  sessions(): number {
    return this.#hub.devices().length;
  }

  /** Forgets the sessions opened so far: `opened()` counts from here. */
  watch(): void {
    this.#opened = new Map();
  }

  /** When each device (re)opened a session since `watch()`. */
  opened(): ReadonlyMap<string, number> {
    return this.#opened;
  }

  /**
   * Restarts the hub; resolves once it listens again. `restart`: the hub's own `restart()`,
   * close 1012 to every device, down for as long as the closing handshakes take. `crash`:
   * every socket destroyed without a close frame, the listener closed with it, a new hub on
   * the same port `downMs` later.
   */
  async restart(kind: StormKind, downMs: number): Promise<void> {
    if (kind === 'restart') return this.#hub.restart({ downMs });
    const crashed = this.#hub;
    for (const { device_id } of crashed.devices()) crashed.faults.dropDevice(device_id);
    // Same turn as the drops: no reconnect can reach the old hub before its listener is gone.
    const closed = crashed.close();
    await closed;
    if (downMs > 0) await new Promise<void>((resolve) => setTimeout(resolve, downMs));
    this.#hub = this.#create();
    await this.#hub.listen({ port: this.#port, host: '127.0.0.1' });
  }

  close(): Promise<void> {
    return this.#hub.close();
  }

  #create(): Hub {
    const hub = createHub({ staticToken: this.#token });
    hub.on('session_open', (info) => {
      if (!this.#opened.has(info.device_id)) this.#opened.set(info.device_id, performance.now());
    });
    return hub;
  }
}
