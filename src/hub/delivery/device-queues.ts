import { getOrCreate } from '../../util/get-or-create.ts';
import { DeviceQueue } from './device-queue.ts';

/**
 * The hub's per-device queues of reliable delivery, one {@link DeviceQueue} per (tenant, device):
 * where delivery finds a device's queue, so where the queues live can change without it.
 */
export interface DeviceQueues {
  /** The queue of a device, made empty (with `defaultCredit`) on first use. */
  of(who: { tenant_id: string; device_id: string }): DeviceQueue;
}

/**
 * The queues in this process's memory, kept for the life of the hub.
 *
 * @example
 * const queues = new MemoryDeviceQueues(16);
 * queues.of({ tenant_id: 'acme', device_id: 'laptop-1' }).enqueue(request, Date.now());
 */
export class MemoryDeviceQueues implements DeviceQueues {
  readonly #queues = new Map<string, DeviceQueue>();

  constructor(readonly defaultCredit: number) {}

  of(who: { tenant_id: string; device_id: string }): DeviceQueue {
    return getOrCreate(this.#queues, `${who.tenant_id}\u0000${who.device_id}`, () => new DeviceQueue(this.defaultCredit));
  }
}
