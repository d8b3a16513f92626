import { nextRandom } from '../../src/util/random.ts';
import type { FaultKind, FaultProxy } from '../support/fault-proxy.ts';

/** A seeded source of numbers for the chaos (mulberry32, as the machines' jitter). */
export class Prng {
  #state: number;
  constructor(seed: number) {
    this.#state = seed;
  }
  /** A float in [0, 1). */
  next(): number {
    const [value, state] = nextRandom(this.#state);
    this.#state = state;
    return value;
  }
  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  /** A copy of `items` in random order (Fisher–Yates). */
  shuffle<T>(items: readonly T[]): T[] {
    const copy = [...items];
    for (let i = copy.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      [copy[i], copy[j]] = [copy[j]!, copy[i]!];
    }
    return copy;
  }
}

/** How often and how long: milliseconds, each drawn uniformly from [min, max]. */
export interface FaultTiming {
  /** Between the start of one fault and the next. */
  gapMs: [number, number];
  /** How long a stall lasts: past the connector's heartbeat deadline or not. */
  stallMs: [number, number];
  /** How long a delay, a throttle or a split lasts. */
  episodeMs: [number, number];
}

/**
 * A fault every 250–650 ms. With heartbeats every second and a 1 s timeout, the connector notices a
 * stall after 1–2 s: stalls of 0.3–2.2 s are sometimes noticed, sometimes over first.
 */
export const DEFAULT_FAULT_TIMING: FaultTiming = { gapMs: [250, 650], stallMs: [300, 2_200], episodeMs: [300, 1_500] };

/** A running schedule of faults; {@link FaultSchedule.stop} ends it and lifts every fault. */
export interface FaultSchedule {
  /** Restarts that failed (the hub could not listen again): each is a finding. */
  readonly errors: unknown[];
  /** Stops injecting, lifts every fault still on, and waits for a restart under way. */
  stop(): Promise<void>;
}

/**
 * Injects a fault through `proxy` every few hundred milliseconds, in an order drawn from `random`:
 * a cut, a stall (lifted after a while), a delay, a throttle or a split (turned off after a while),
 * or a hub restart (one at a time). Faults of different kinds overlap; one of a kind already on
 * is extended. Its timers are real (the proxy's I/O is) and unref'd.
 *
 * @example
 * const faults = startFaultSchedule(proxy, new Prng(42));
 * … // the workload runs
 * await faults.stop();
 */
export function startFaultSchedule(proxy: FaultProxy, random: Prng, timing: FaultTiming = DEFAULT_FAULT_TIMING): FaultSchedule {
  const kinds: readonly FaultKind[] = ['cut', 'stall', 'delay', 'throttle', 'split', 'restart'];
  const errors: unknown[] = [];
  /** When each lasting fault is lifted. */
  const lifts = new Map<FaultKind, { timer: NodeJS.Timeout; lift: () => void }>();
  const bag: FaultKind[] = [];
  let restarting: Promise<void> | undefined;
  let stopped = false;
  let next: NodeJS.Timeout | undefined;
  const draw = ([min, max]: [number, number]) => random.int(min, max);

  const lasting = (kind: FaultKind, ms: number, lift: () => void) => {
    const previous = lifts.get(kind);
    if (previous) clearTimeout(previous.timer);
    const timer = setTimeout(() => {
      lifts.delete(kind);
      lift();
    }, ms);
    timer.unref();
    lifts.set(kind, { timer, lift });
  };

  const inject = () => {
    if (stopped) return;
    // A shuffled bag of the six kinds: random order, yet every kind within any twelve faults.
    if (bag.length === 0) bag.push(...random.shuffle(kinds));
    const kind = bag.pop()!;
    switch (kind) {
      case 'cut':
        proxy.cut();
        break;
      case 'stall':
        proxy.stall(true);
        lasting('stall', draw(timing.stallMs), () => proxy.stall(false));
        break;
      case 'delay':
        proxy.delay(random.int(5, 80));
        lasting('delay', draw(timing.episodeMs), () => proxy.delay(0));
        break;
      case 'throttle':
        proxy.throttle(random.int(4_000, 64_000));
        lasting('throttle', draw(timing.episodeMs), () => proxy.throttle(0));
        break;
      case 'split':
        proxy.split(true);
        lasting('split', draw(timing.episodeMs), () => proxy.split(false));
        break;
      case 'restart':
        restarting ??= proxy
          .restartHub()
          .catch((error: unknown) => void errors.push(error))
          .finally(() => (restarting = undefined));
        break;
    }
    next = setTimeout(inject, draw(timing.gapMs));
    next.unref();
  };
  next = setTimeout(inject, draw(timing.gapMs));
  next.unref();

  return {
    errors,
    async stop() {
      stopped = true;
      clearTimeout(next);
      for (const { timer, lift } of lifts.values()) {
        clearTimeout(timer);
        lift();
      }
      lifts.clear();
      await restarting;
    },
  };
}
