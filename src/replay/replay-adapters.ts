import type { HttpAdapter, HttpResponse } from '../adapters/http.ts';
import type { SocketAdapter, SocketHandlers } from '../adapters/socket.ts';
import type { RuntimeClock } from '../util/clock.ts';

/** How far a replayed timer's delay and start may be from the recorded one's and still be it. */
export const TIMER_SLACK_MS = 5;

/** How far a delay computed from clock readings may move on a loaded machine and still be the same timer. */
const COMPUTED_DELAY_SLACK_MS = 1_000;

/** A timer the replayed connector set. */
export interface ReplayTimer {
  id: number;
  ms: number;
  setAt: number;
  fn: (...args: unknown[]) => void;
}

/**
 * A simulated clock driven by a recording: time moves only when the replay moves it (to each
 * entry's recorded time), and a timer fires only when the recording says one of its delay fired.
 * Timers are matched by delay, not by the order they were set in: work that ran after an `await`
 * while recording may set its timers in another order than a replay does.
 */
export class ReplayClock implements RuntimeClock {
  #now: number;
  #nextId = 1;
  readonly #timers = new Map<number, ReplayTimer>();

  constructor(start: number) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: (...args: unknown[]) => void, ms: number): number {
    const id = this.#nextId++;
    this.#timers.set(id, { id, ms, setAt: this.#now, fn });
    return id;
  }

  clearTimeout(id: unknown): void {
    this.#timers.delete(id as number);
  }

  /** Moves time forward to `at` (never back) without firing anything. */
  advanceTo(at: number): void {
    if (at > this.#now) this.#now = at;
  }

  /** Timers set and not yet fired or cleared, oldest first. */
  pending(): ReplayTimer[] {
    return [...this.#timers.values()];
  }

  /**
   * Fires the pending timer of `ms` set at `setAt`: the oldest of that delay set by then (failing
   * that, the oldest of that delay, or one within {@link TIMER_SLACK_MS} of both).
   * Returns false when there is none: the replayed connector did not set the timer the recording fired.
   */
  fire(ms: number, setAt: number): boolean {
    const candidates = this.pending().filter((t) => t.ms === ms);
    // A delay computed from clock readings (`expiresAt - now`, a skew against the hub's time)
    // moves by the milliseconds that passed between an input and the await that read the clock
    // while recording; the replay reads it at the input. Such a timer is still the same timer.
    const near = this.pending()
      .filter((t) => Math.abs(t.ms - ms) <= TIMER_SLACK_MS && Math.abs(t.setAt - setAt) <= TIMER_SLACK_MS)
      .sort((a, b) => Math.abs(a.ms - ms) - Math.abs(b.ms - ms));
    // Real timers of one delay fire in the order they were set, so the oldest of that delay is the
    // one (a heartbeat's timeout before the wake check re-armed after it, the first of three
    // handlers' equal waits). Not by an exact `set_at`: a replay reads the clock at each input, the
    // recording read it a few ms later, after the work the input caused, so an exact `set_at` may
    // be another timer's. Only timers set by then count.
    const timer = candidates.find((t) => t.setAt <= setAt + TIMER_SLACK_MS) ?? candidates[0] ?? near[0] ?? this.#sameComputation(ms, setAt);
    if (!timer) return false;
    this.#timers.delete(timer.id);
    timer.fn();
    return true;
  }

  /**
   * A delay computed from clock readings (`refreshAt - now`, often with a skew-corrected fraction
   * of a millisecond: `64.6572265625`). On a loaded machine the recording read the clock tens of
   * ms away from where the replay reads it (at the input), so the delay differs by more than
   * {@link TIMER_SLACK_MS}, and its start or its end (or both) with it. Still that timer: one set
   * no later whose delay has the same fraction, which only that computation gives (the nearest in
   * delay), or one set no later and ending within {@link TIMER_SLACK_MS}.
   */
  #sameComputation(ms: number, setAt: number): ReplayTimer | undefined {
    const fraction = ms % 1;
    const close = this.pending()
      .filter((t) => t.setAt <= setAt + TIMER_SLACK_MS && Math.abs(t.ms - ms) < COMPUTED_DELAY_SLACK_MS)
      .sort((a, b) => Math.abs(a.ms - ms) - Math.abs(b.ms - ms));
    return (
      close.find((t) => fraction !== 0 && t.ms % 1 === fraction) ??
      close.find((t) => Math.abs(t.setAt + t.ms - (setAt + ms)) <= TIMER_SLACK_MS)
    );
  }
}

/** What the replayed connector did through an adapter, in the recording's terms. */
export type ReplayOutput =
  | { kind: 'socket.open'; conn: number; url: string }
  | { kind: 'socket.send'; conn: number; data: string }
  | { kind: 'socket.close'; conn: number; code?: number; reason?: string }
  | { kind: 'socket.terminate'; conn: number }
  | { kind: 'http.request'; req: number; method: string; url: string; headers?: Record<string, string>; json?: unknown };

/** A socket adapter with nothing behind it: the replay plays the far side from the recording. */
export class ReplaySocketAdapter implements SocketAdapter {
  readonly #connections = new Map<number, SocketHandlers>();
  #count = 0;

  constructor(private readonly output: (out: ReplayOutput) => void) {}

  open(url: string, handlers: SocketHandlers) {
    const conn = ++this.#count;
    this.#connections.set(conn, handlers);
    this.output({ kind: 'socket.open', conn, url });
    return {
      send: (data: string) => this.output({ kind: 'socket.send', conn, data }),
      close: (code?: number, reason?: string) =>
        this.output({ kind: 'socket.close', conn, ...(code !== undefined && { code }), ...(reason !== undefined && { reason }) }),
      terminate: () => this.output({ kind: 'socket.terminate', conn }),
      bufferedAmount: 0,
    };
  }

  /** The handlers of connection `conn` (numbered from 1 in the order opened), if it was opened. */
  handlers(conn: number): SocketHandlers | undefined {
    return this.#connections.get(conn);
  }

  /** The far side closes every connection still open (at the end of a replay). */
  closeAll(): void {
    for (const [conn, handlers] of this.#connections) {
      this.#connections.delete(conn);
      handlers.onClose(1006, 'replay ended');
    }
  }

  /** Forgets a connection once its close was delivered: nothing is called after `onClose`. */
  closed(conn: number): void {
    this.#connections.delete(conn);
  }
}

/** An HTTP adapter whose answers come from the recording. */
export class ReplayHttpAdapter implements HttpAdapter {
  readonly #pending = new Map<number, { resolve(response: HttpResponse): void; reject(error: Error): void }>();
  #count = 0;

  constructor(private readonly output: (out: ReplayOutput) => void) {}

  request(request: Parameters<HttpAdapter['request']>[0]): Promise<HttpResponse> {
    const req = ++this.#count;
    return new Promise((resolve, reject) => {
      this.#pending.set(req, { resolve, reject });
      this.output({
        kind: 'http.request',
        req,
        method: request.method,
        url: request.url,
        ...(request.headers && { headers: request.headers }),
        ...(request.json !== undefined && { json: request.json }),
      });
    });
  }

  /** Answers (or fails) replayed request `req`; false when it is not waiting for an answer. */
  settle(req: number, outcome: { response: HttpResponse } | { error: Error }): boolean {
    const pending = this.#pending.get(req);
    if (!pending) return false;
    this.#pending.delete(req);
    if ('response' in outcome) pending.resolve(outcome.response);
    else pending.reject(outcome.error);
    return true;
  }

  /** Fails every request still waiting (at the end of a replay). */
  failAll(error: Error): void {
    for (const req of [...this.#pending.keys()]) this.settle(req, { error });
  }
}
