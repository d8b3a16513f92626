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
  /**
   * By device id, then tenant id: looked up several times per frame, so by the two strings the
   * caller holds (their hashes are kept on them) rather than a key string joined per look-up.
   */
  readonly #queues = new Map<string, Map<string, DeviceQueue>>();
  /** Every queue with whose it is, in the order made: what {@link all} lists. */
  readonly #held: Array<{ who: Who; queue: DeviceQueue }> = [];

  constructor(readonly defaultCredit: number) {}

  of(who: Who): DeviceQueue {
    let tenants = this.#queues.get(who.device_id);
    if (tenants === undefined) {
      tenants = new Map();
      this.#queues.set(who.device_id, tenants);
    }
    let queue = tenants.get(who.tenant_id);
    if (queue === undefined) {
      queue = new DeviceQueue(this.defaultCredit);
      tenants.set(who.tenant_id, queue);
      this.#held.push({ who: { tenant_id: who.tenant_id, device_id: who.device_id }, queue });
    }
    return queue;
  }

  all(): Array<{ who: Who; queue: DeviceQueue }> {
    return [...this.#held];
  }
}
