import { randomUUID } from 'node:crypto';
import { DeviceQueue } from './device-queue.ts';

type Who = { tenant_id: string; device_id: string };

/**
 * The hub's per-device queues of reliable delivery, one {@link DeviceQueue} per (tenant, device):
 * where delivery finds a device's queue, so where the queues live can change without it.
 */
export interface DeviceQueues {
  /**
   * The delivery epoch the queues' sequence numbers belong to (`connect_ack.resume.hub_epoch`):
   * a device's cursor from another epoch means nothing to them. Read it once the queues are open.
   */
  readonly epoch: string;
  /** The queue of a device, made empty (with `defaultCredit`) on first use. */
  of(who: Who): DeviceQueue;
  /** Every queue held, with whose it is: what a restarted hub picks up again. */
  all(): Array<{ who: Who; queue: DeviceQueue }>;
}

/**
 * The queues in this process's memory, kept for the life of the hub, under an epoch of its own.
 *
 * @example
 * const queues = new MemoryDeviceQueues(16);
 * queues.of({ tenant_id: 'acme', device_id: 'laptop-1' }).enqueue(request, Date.now());
 */
export class MemoryDeviceQueues implements DeviceQueues {
  /** Changes when the hub process restarts: nothing of the queues outlives it. */
  readonly epoch = `hub_${randomUUID()}`;
  readonly #queues = new Map<string, { who: Who; queue: DeviceQueue }>();

  constructor(readonly defaultCredit: number) {}

  of(who: Who): DeviceQueue {
    // Several times per frame: no factory closure to make each time.
    const key = `${who.tenant_id}\u0000${who.device_id}`;
    let held = this.#queues.get(key);
    if (!held) {
      held = { who: { tenant_id: who.tenant_id, device_id: who.device_id }, queue: new DeviceQueue(this.defaultCredit) };
      this.#queues.set(key, held);
    }
    return held.queue;
  }

  all(): Array<{ who: Who; queue: DeviceQueue }> {
    return [...this.#queues.values()];
  }
}
