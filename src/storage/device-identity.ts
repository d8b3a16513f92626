import { randomUUID } from 'node:crypto';
import { entryPath, type StorageAdapter, StorageError } from '../adapters/storage.ts';

/** The entry that holds the device id, one line. */
export const DEVICE_ID_ENTRY = 'device_id';

const DEVICE_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,255}$/;

export interface DeviceIdentity {
  deviceId: string;
  /** Where it came from: given in config, `DEVICE_ID`, the state file, or new (and now saved). */
  source: 'config' | 'env' | 'file' | 'generated';
}

/**
 * Finds this device's id, in this order: the configured one, then `DEVICE_ID`,
 * then the state file; if there is none, a new one is generated and written, so the device
 * keeps its identity across restarts.
 *
 * A state file that exists but cannot be read or does not hold a valid id is an error naming
 * the file: a silently new identity would orphan everything the hub knows about this device.
 *
 * @example
 * const { deviceId } = await resolveDeviceIdentity({ storage: createFileStorage(defaultStateDir()) });
 */
export async function resolveDeviceIdentity(options: {
  storage: StorageAdapter;
  configured?: string | undefined;
  env?: Record<string, string | undefined>;
}): Promise<DeviceIdentity> {
  const { storage, configured, env = process.env } = options;
  if (configured) return { deviceId: validate(configured, 'the configured deviceId'), source: 'config' };
  const fromEnv = env.DEVICE_ID?.trim();
  if (fromEnv) return { deviceId: validate(fromEnv, 'DEVICE_ID'), source: 'env' };

  const path = entryPath(storage, DEVICE_ID_ENTRY);
  const content = await storage.read(DEVICE_ID_ENTRY);
  if (content !== undefined) {
    const text = content.toString('utf8').trim();
    if (!DEVICE_ID.test(text)) {
      throw new StorageError(path, 'does not hold a valid device id; fix or remove it (removing it gives this device a new identity)');
    }
    return { deviceId: text, source: 'file' };
  }
  const deviceId = `dev_${randomUUID().replaceAll('-', '')}`;
  await storage.write(DEVICE_ID_ENTRY, `${deviceId}\n`);
  return { deviceId, source: 'generated' };
}

function validate(id: string, where: string): string {
  if (!DEVICE_ID.test(id)) throw new TypeError(`${where} is not a valid device id (letters, digits, . _ : -; at most 256)`);
  return id;
}
