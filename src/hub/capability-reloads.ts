import { randomUUID } from 'node:crypto';
import type { MessageOf } from '../protocol/index.ts';
import type { HubClock } from './options.ts';

/** What a device answered to a capability reload. */
export interface ReloadResult {
  ok: boolean;
  error?: string;
}

/**
 * Capability reloads waiting for the device's `capability_reload_result`, by reload id. A device
 * that never answers gets `{ ok: false }` after `timeoutMs`, so neither the caller nor this map
 * waits for ever.
 */
export class CapabilityReloads {
  readonly #waiting = new Map<string, (result: ReloadResult) => void>();

  constructor(
    readonly clock: HubClock,
    readonly timeoutMs = 30_000,
  ) {}

  /** Sends a reload through `send` (which may throw: nothing then waits) and resolves with the answer. */
  request(send: (reloadId: string) => void): Promise<ReloadResult> {
    const reloadId = `rld_${randomUUID()}`;
    const result = new Promise<ReloadResult>((resolve) => {
      const timer = this.clock.setTimeout(() => this.#settle(reloadId, { ok: false, error: `no answer from the device within ${this.timeoutMs / 1000} s` }), this.timeoutMs);
      this.#waiting.set(reloadId, (answer) => {
        this.clock.clearTimeout(timer);
        resolve(answer);
      });
    });
    try {
      send(reloadId);
    } catch (error) {
      this.#settle(reloadId, { ok: false });
      throw error;
    }
    return result;
  }

  /** The device's answer. */
  settle(message: MessageOf<'capability_reload_result'>): void {
    this.#settle(message.reload_id, { ok: message.ok, ...(message.error !== undefined && { error: message.error }) });
  }

  #settle(reloadId: string, result: ReloadResult): void {
    this.#waiting.get(reloadId)?.(result);
    this.#waiting.delete(reloadId);
  }
}
