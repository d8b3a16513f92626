import { randomUUID } from 'node:crypto';
import type { MessageOf } from '../../protocol/index.ts';
import type { HubClock } from '../core/options.ts';

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
  /** By reload id, with the device it was sent to: only that device may answer. */
  readonly #waiting = new Map<string, { from: string; settle: (result: ReloadResult) => void }>();

  constructor(
    readonly clock: HubClock,
    readonly timeoutMs = 30_000,
  ) {}

  /**
   * Sends a reload through `send` (which may throw: nothing then waits) and resolves with the
   * answer. `reloadId`: one given by another hub node, whose caller waits for the answer there.
   */
  request(send: (reloadId: string) => { tenant_id: string; device_id: string }, reloadId = `rld_${randomUUID()}`): Promise<ReloadResult> {
    let settle: (result: ReloadResult) => void = () => {};
    const result = new Promise<ReloadResult>((resolve) => {
      const timer = this.clock.setTimeout(
        () => this.#settle(reloadId, { ok: false, error: `no answer from the device within ${this.timeoutMs / 1000} s` }),
        this.timeoutMs,
      );
      settle = (answer) => {
        this.clock.clearTimeout(timer);
        resolve(answer);
      };
    });
    try {
      const to = send(reloadId);
      this.#waiting.set(reloadId, { from: `${to.tenant_id}\u0000${to.device_id}`, settle });
    } catch (error) {
      settle({ ok: false });
      throw error;
    }
    return result;
  }

  /** A device's answer; one from another device than the reload went to is ignored. */
  settle(message: MessageOf<'capability_reload_result'>, from: { tenant_id: string; device_id: string }): void {
    if (this.#waiting.get(message.reload_id)?.from !== `${from.tenant_id}\u0000${from.device_id}`) return;
    this.#settle(message.reload_id, { ok: message.ok, ...(message.error !== undefined && { error: message.error }) });
  }

  /** An answer that came another way: from the hub node holding the device (several nodes). */
  answer(reloadId: string, result: ReloadResult): void {
    this.#settle(reloadId, result);
  }

  #settle(reloadId: string, result: ReloadResult): void {
    this.#waiting.get(reloadId)?.settle(result);
    this.#waiting.delete(reloadId);
  }
}
