import { createFileStorage, defaultStateDir } from '../../adapters/file-storage.ts';
import type { StorageAdapter } from '../../adapters/storage.ts';
import { parseStateKey } from '../../storage/sealed.ts';
import { createSecretStore, type SecretStore } from '../../storage/secret-store.ts';

/** The secret store entry that holds the device credential. */
export const DEVICE_CREDENTIAL_ENTRY = 'device_credential';

/**
 * The connector's state directory and secret store, as the CLI finds them: `--state-dir`, else
 * `CLOUDTETHER_STATE_DIR`, else `~/.cloudtether`; secrets sealed with `CLOUDTETHER_STATE_KEY`
 * when it is set.
 */
export function openState(
  stateDir: string | undefined,
  env: Record<string, string | undefined>,
): { storage: StorageAdapter; secrets: SecretStore } {
  const storage = createFileStorage(stateDirOf(stateDir, env));
  const key = env.CLOUDTETHER_STATE_KEY ? parseStateKey(env.CLOUDTETHER_STATE_KEY) : undefined;
  return { storage, secrets: createSecretStore(storage, { key }) };
}

/** The state directory: `--state-dir`, else `CLOUDTETHER_STATE_DIR`, else `~/.cloudtether`. */
export function stateDirOf(stateDir: string | undefined, env: Record<string, string | undefined>): string {
  return stateDir ?? env.CLOUDTETHER_STATE_DIR ?? defaultStateDir();
}
