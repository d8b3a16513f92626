import { randomUUID } from 'node:crypto';
import { basename, dirname } from 'node:path';
import { createFileStorage } from '../../adapters/file-storage.ts';
import { type StorageAdapter, StorageError } from '../../adapters/storage.ts';
import {
  applyPatch,
  emptyDocument,
  jsonBytes,
  MAX_SETTINGS_BYTES,
  type SettingsDocument,
  SettingsPatch,
  type SettingsValues,
  sameValue,
} from '../../protocol/settings-document.ts';
import { getOrCreate } from '../../util/get-or-create.ts';
import { HubError } from '../core/errors.ts';
import type {
  DocumentKey,
  HubSettingsDocument,
  PatchConditions,
  ReportedEntry,
  SettingsChangeListener,
  SettingsDocuments,
  SettingsPatchResult,
} from './settings-documents.ts';

/** How many idempotency keys each document remembers (the devices' retries come within minutes). */
const REMEMBERED_EDITS = 100;

/** The file: the epoch and every document, by tenant then key. */
interface StoreFile {
  format: 1;
  epoch: string;
  tenants: Record<string, Record<string, StoredDocument>>;
}

/** A document as stored: with the idempotency keys of the last patches it took. */
export type StoredDocument = SettingsDocument & { edits?: string[] };

/**
 * A store of settings documents outside this process (a hub engine's), for
 * {@link SettingsStore.openOn}: read back on open, each change written before it is visible.
 */
export interface SettingsBacking {
  /** The epoch, made with `freshEpoch` when there is none yet (whoever makes it first wins), and every document. */
  open(freshEpoch: string): Promise<{ epoch: string; tenants: Map<string, Map<string, StoredDocument>> }>;
  /**
   * Stores `document` as the next version of (tenant, key) if the stored one is still at
   * `document.version - 1`, in one atomic step. Resolves false when it is not (changed elsewhere).
   */
  write(tenantId: string, key: DocumentKey, document: StoredDocument): Promise<boolean>;
}

const SEP = '\u0000';

/**
 * The hub's settings documents: one organization document per tenant and one user document per
 * subject within it, each versioned from 0 (empty) up by one per change, under an `epoch` made
 * when the store is first created. With a path, the epoch and every document live in one JSON
 * file (`0600`, replaced atomically) written before a change is visible, so a restarted hub
 * keeps epoch and versions and never hands out a version it could forget. Changes run one at a
 * time, in call order. Devices' reported documents are kept in memory only.
 *
 * @example
 * const store = await SettingsStore.open('/var/lib/hub/settings.json');
 * await store.patch('acme', 'org', { theme: 'dark' }); // { ok: true, document: { epoch, version: 1, … }, changes: { theme: 'dark' } }
 * await store.patch('acme', 'user:ada', { beta: true }, { version: 0, editId: 'edit-7' });
 */
export class SettingsStore implements SettingsDocuments {
  /** Listeners of changes; see {@link SettingsChangeListener}. */
  readonly listeners = new Set<SettingsChangeListener>();
  readonly #tenants: Map<string, Map<string, StoredDocument>>;
  readonly #reported = new Map<string, ReportedEntry>();
  readonly #file: { storage: StorageAdapter; name: string } | undefined;
  readonly #backing: SettingsBacking | undefined;
  /** The change under way: the next one waits for it, and close() for the last. */
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  private constructor(
    readonly epoch: string,
    tenants: Map<string, Map<string, StoredDocument>>,
    file: { storage: StorageAdapter; name: string } | undefined,
    backing?: SettingsBacking,
  ) {
    this.#tenants = tenants;
    this.#file = file;
    this.#backing = backing;
  }

  /** Opens the store on a backing (a hub engine's): its epoch and documents are read back. */
  static async openOn(backing: SettingsBacking): Promise<SettingsStore> {
    const { epoch, tenants } = await backing.open(freshEpoch());
    return new SettingsStore(epoch, tenants, undefined, backing);
  }

  /**
   * Opens the store at `path` (in memory, with a fresh epoch, without one). A missing file is
   * created with a fresh epoch right away, so a path that cannot be written fails here.
   *
   * @throws {StorageError} when the file cannot be read or written, or is not a settings store.
   */
  static async open(path: string | undefined): Promise<SettingsStore> {
    if (path === undefined) return new SettingsStore(freshEpoch(), new Map(), undefined);
    // The file storage writes atomically (temporary file, fsync, rename) at mode 0600.
    const file = { storage: createFileStorage(dirname(path)), name: basename(path) };
    const data = await file.storage.read(file.name);
    if (data !== undefined) {
      const { epoch, tenants } = parseFile(path, data.toString('utf8'));
      return new SettingsStore(epoch, tenants, file);
    }
    const store = new SettingsStore(freshEpoch(), new Map(), file);
    await file.storage.write(file.name, store.#serialize());
    return store;
  }

  /** A document; an unknown one is empty at version 0. */
  document(tenantId: string, key: DocumentKey): HubSettingsDocument {
    const stored = this.#tenants.get(tenantId)?.get(key) ?? emptyDocument();
    return { epoch: this.epoch, version: stored.version, settings: structuredClone(stored.settings) };
  }

  /** The version of a document, without copying it. */
  version(tenantId: string, key: DocumentKey): number {
    return this.#tenants.get(tenantId)?.get(key)?.version ?? 0;
  }

  /**
   * Applies a merge patch once the changes before it are done. With a `version` (or `epoch`), a
   * document at another one is left alone and the answer is a conflict with it; with an `editId`
   * the document took already, the answer is the document as it is (see {@link PatchConditions}).
   * A patch that changes nothing keeps the version and is neither stored nor pushed.
   *
   * @throws {HubError} `invalid_settings` (not a JSON object of settings keys), `too_large`
   *   (the patch or the document it makes is over {@link MAX_SETTINGS_BYTES}), `invalid_state`
   *   (closed). Rejects with the {@link StorageError} when the file cannot be written; the
   *   document then stays as it was.
   */
  patch(tenantId: string, key: DocumentKey, patch: SettingsPatch, conditions: PatchConditions = {}): Promise<SettingsPatchResult> {
    if (this.#closed) return Promise.reject(new HubError('invalid_state', 'the settings store is closed'));
    let clean: SettingsPatch;
    try {
      clean = cleanPatch(patch);
    } catch (error) {
      return Promise.reject(error);
    }
    const run = this.#queue.then(() => this.#apply(tenantId, key, clean, conditions));
    this.#queue = run.catch(() => {});
    return run;
  }

  adopt(tenantId: string, key: DocumentKey, stored: StoredDocument): HubSettingsDocument | undefined {
    if (stored.version <= this.version(tenantId, key)) return undefined;
    const copy: StoredDocument = structuredClone(stored);
    getOrCreate(this.#tenants, tenantId, () => new Map<string, StoredDocument>()).set(key, copy);
    return this.document(tenantId, key);
  }

  /**
   * The stored document as this store keeps it (version, settings, idempotency keys): what
   * another hub node on the same store adopts ({@link SettingsStore.adopt}).
   */
  stored(tenantId: string, key: DocumentKey): StoredDocument | undefined {
    const stored = this.#tenants.get(tenantId)?.get(key);
    return stored && structuredClone(stored);
  }

  /** Records what a device reported, replacing its previous report. */
  report(tenantId: string, deviceId: string, entry: ReportedEntry): void {
    this.#reported.set(`${tenantId}${SEP}${deviceId}`, structuredClone(entry));
  }

  /** What a device last reported; undefined when it has not since the hub started. */
  reportOf(tenantId: string, deviceId: string): ReportedEntry | undefined {
    const entry = this.#reported.get(`${tenantId}${SEP}${deviceId}`);
    return entry && structuredClone(entry);
  }

  /** Refuses further changes and resolves once the last one is stored. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#queue;
  }

  async #apply(
    tenantId: string,
    key: DocumentKey,
    patch: SettingsPatch,
    { version, epoch, editId }: PatchConditions,
  ): Promise<SettingsPatchResult> {
    const current: StoredDocument = this.#tenants.get(tenantId)?.get(key) ?? emptyDocument();
    // Taken before, its answer lost: answering again must not apply it over later changes.
    if (editId !== undefined && epoch === this.epoch && current.edits?.includes(editId)) {
      return { ok: true, document: this.document(tenantId, key), changes: {}, replayed: true };
    }
    if ((version !== undefined && version !== current.version) || (epoch !== undefined && epoch !== this.epoch)) {
      return { ok: false, reason: 'version_conflict', current: this.document(tenantId, key) };
    }
    const changes: SettingsPatch = {};
    for (const [name, value] of Object.entries(patch)) {
      const had = Object.hasOwn(current.settings, name);
      if (value === null ? had : !had || !sameValue(current.settings[name], value)) defineKey(changes, name, value);
    }
    if (Object.keys(changes).length === 0) return { ok: true, document: this.document(tenantId, key), changes };
    const edits = editId === undefined ? current.edits : [...(current.edits ?? []), editId].slice(-REMEMBERED_EDITS);
    const next: StoredDocument = { version: current.version + 1, settings: applyPatch(current.settings, changes), ...(edits && { edits }) };
    if (jsonBytes(next.settings) > MAX_SETTINGS_BYTES) {
      throw new HubError('too_large', `the settings would be over ${MAX_SETTINGS_BYTES} bytes of JSON`);
    }
    // Written before it is visible: a version handed out must survive a crash.
    if (this.#file) await this.#file.storage.write(this.#file.name, this.#serialize({ tenantId, key, document: next }));
    // Checked against the stored version in the same step: a change made elsewhere is never overwritten.
    if (this.#backing && !(await this.#backing.write(tenantId, key, next))) {
      throw new HubError('invalid_state', `settings document '${key}' of tenant '${tenantId}' was changed by another hub; not applied`);
    }
    getOrCreate(this.#tenants, tenantId, () => new Map<string, StoredDocument>()).set(key, next);
    const document = this.document(tenantId, key);
    for (const listener of this.listeners) listener(tenantId, key, document, structuredClone(changes));
    return { ok: true, document, changes };
  }

  /** The file's content, with `change` in place of the stored document when given. */
  #serialize(change?: { tenantId: string; key: string; document: StoredDocument }): string {
    const tenants: Record<string, Record<string, StoredDocument>> = {};
    const names = new Set([...this.#tenants.keys(), ...(change ? [change.tenantId] : [])]);
    for (const tenantId of names) {
      const documents: Record<string, StoredDocument> = {};
      for (const [key, document] of this.#tenants.get(tenantId) ?? []) defineKey(documents, key, document);
      if (change?.tenantId === tenantId) defineKey(documents, change.key, change.document);
      defineKey(tenants, tenantId, documents);
    }
    const file: StoreFile = { format: 1, epoch: this.epoch, tenants };
    return `${JSON.stringify(file)}\n`;
  }
}

function freshEpoch(): string {
  return `set_${randomUUID()}`;
}

/** A private JSON copy of a patch, checked: keys of settings, values JSON, not too large. */
function cleanPatch(patch: SettingsPatch): SettingsPatch {
  let copy: unknown;
  try {
    // Drops `undefined` values and makes the store's own copy, which no caller can change.
    copy = JSON.parse(JSON.stringify(patch));
  } catch {
    throw new HubError('invalid_settings', 'the settings patch is not JSON');
  }
  const checked = SettingsPatch.safeParse(copy);
  if (!checked.success || typeof copy !== 'object' || copy === null || Array.isArray(copy)) {
    throw new HubError('invalid_settings', 'the settings patch must be an object of keys (1 to 128 characters) to JSON values');
  }
  if (jsonBytes(copy) > MAX_SETTINGS_BYTES)
    throw new HubError('too_large', `the settings patch is over ${MAX_SETTINGS_BYTES} bytes of JSON`);
  // zod drops a `__proto__` key from its output; the parsed copy keeps it as a plain key.
  return copy as SettingsPatch;
}

/** Sets an own property: a `__proto__` key stays a plain key. */
function defineKey<T>(target: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Reads the file, checked by hand: zod's records would drop a `__proto__` key. */
function parseFile(path: string, text: string): { epoch: string; tenants: Map<string, Map<string, StoredDocument>> } {
  const invalid = (why: string) => new StorageError(path, `not a settings store: ${why}`);
  let file: Partial<StoreFile>;
  try {
    file = JSON.parse(text) as Partial<StoreFile>;
  } catch {
    throw invalid('not JSON');
  }
  if (!isObject(file) || file.format !== 1) throw invalid('unknown format');
  if (typeof file.epoch !== 'string' || file.epoch.length === 0 || file.epoch.length > 128) throw invalid('no epoch');
  if (!isObject(file.tenants)) throw invalid('no tenants');
  const tenants = new Map<string, Map<string, StoredDocument>>();
  for (const [tenantId, documents] of Object.entries(file.tenants)) {
    if (!isObject(documents)) throw invalid(`tenant '${tenantId}'`);
    const byKey = new Map<string, StoredDocument>();
    for (const [key, document] of Object.entries(documents)) {
      const valid =
        isObject(document) && Number.isSafeInteger(document.version) && (document.version as number) >= 0 && isObject(document.settings);
      if (!valid || !/^(org|user:.+|device:.+)$/s.test(key)) throw invalid(`document '${key}' of tenant '${tenantId}'`);
      const edits = Array.isArray(document.edits) ? document.edits.filter((id): id is string => typeof id === 'string') : undefined;
      byKey.set(key, { version: document.version as number, settings: document.settings as SettingsValues, ...(edits && { edits }) });
    }
    tenants.set(tenantId, byKey);
  }
  return { epoch: file.epoch, tenants };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
