import { enqueueActions } from 'xstate';

/*
 * Bugs injected into a supervisor's children, the way test/machines/supervisor.test.ts does it: a
 * child machine is provided with an implementation that throws. Here the throwing one wraps the
 * real one, so a child behaves exactly as shipped until its fault is armed, and the test counts
 * every throw to tell an injected failure from a real one.
 */

export type FaultyChild = 'auth' | 'connection' | 'heartbeat' | 'settings' | 'channel';

type Guard = (args: never, params: never) => boolean;

export class Faults {
  /** How many more times each site throws (Infinity: a bug until `clear`). */
  private readonly armed = new Map<string, number>();
  /** Throws so far, per child. */
  readonly fired: Record<FaultyChild, number> = { auth: 0, connection: 0, heartbeat: 0, settings: 0, channel: 0 };

  arm(site: string, times = 1): void {
    this.armed.set(site, times);
  }

  disarm(site: string): void {
    this.armed.delete(site);
  }

  /** Every bug fixed. */
  disarmAll(): void {
    this.armed.clear();
  }

  /** A fresh start: nothing armed, nothing counted. */
  reset(): void {
    this.armed.clear();
    for (const child of Object.keys(this.fired) as FaultyChild[]) this.fired[child] = 0;
  }

  private hit(child: FaultyChild, site: string): void {
    const left = this.armed.get(site) ?? 0;
    if (left <= 0) return;
    this.armed.set(site, left - 1);
    this.fired[child]++;
    throw new Error(`injected: ${site}`);
  }

  /**
   * An action that throws while `site` is armed, and otherwise does what `original` does. Typed
   * `never` to fit any machine's `provide`; `original` must take no params (they are not passed on).
   */
  action(child: FaultyChild, site: string, original: unknown): never {
    return enqueueActions(({ enqueue }) => {
      this.hit(child, site);
      enqueue(original as never);
    }) as never;
  }

  /** A guard that throws while `site` is armed, and otherwise answers as `original` does. */
  guard(child: FaultyChild, site: string, original: unknown): never {
    return ((args: never, params: never): boolean => {
      this.hit(child, site);
      return (original as Guard)(args, params);
    }) as never;
  }
}
