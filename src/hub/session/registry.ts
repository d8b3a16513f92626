import { getOrCreate } from '../../util/get-or-create.ts';

/**
 * Open sessions keyed by (tenant_id, device_id). Indexed by device first, because `dispatch`
 * without a tenant looks a device up across tenants.
 */
export class SessionRegistry<T> {
  readonly #byDevice = new Map<string, Map<string, T>>();

  /** Registers `value` for (tenant, device) and returns the one it replaces, if any. */
  set(tenantId: string, deviceId: string, value: T): T | undefined {
    const tenants = getOrCreate(this.#byDevice, deviceId, () => new Map<string, T>());
    const previous = tenants.get(tenantId);
    tenants.set(tenantId, value);
    return previous;
  }

  delete(tenantId: string, deviceId: string): void {
    const tenants = this.#byDevice.get(deviceId);
    if (!tenants?.delete(tenantId)) return;
    if (tenants.size === 0) this.#byDevice.delete(deviceId);
  }

  get(tenantId: string, deviceId: string): T | undefined {
    return this.#byDevice.get(deviceId)?.get(tenantId);
  }

  /** Every session of a device id, across tenants. */
  withDevice(deviceId: string): T[] {
    return [...(this.#byDevice.get(deviceId)?.values() ?? [])];
  }

  *values(): IterableIterator<T> {
    for (const tenants of this.#byDevice.values()) yield* tenants.values();
  }
}
