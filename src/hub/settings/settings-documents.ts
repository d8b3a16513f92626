import type { Envelope, MessageOf } from '../../protocol/index.ts';
import type { SettingsDocument, SettingsPatch } from '../../protocol/settings-document.ts';

/**
 * Which document of a tenant: `org`, or a user document named by its subject, `user:<user id>`
 * (sessions and requests made with a user token) or `device:<device id>` (any other credential).
 */
export type DocumentKey = 'org' | `user:${string}` | `device:${string}`;

/** A document as the hub hands it out: with the epoch its version belongs to. */
export interface HubSettingsDocument extends SettingsDocument {
  epoch: string;
}

/**
 * What a patch is checked against. `version` and `epoch`: the document it was made on (either
 * differing is a conflict: a version alone could match a document of another epoch). `editId`:
 * an idempotency key; a patch whose key the document already took is answered, not applied again.
 */
export interface PatchConditions {
  version?: number;
  epoch?: string;
  editId?: string;
}

/**
 * A patch taken (`changes` empty when it changed nothing; the version then stays; `replayed` when
 * its `editId` was taken before), or refused for its version or epoch.
 */
export type SettingsPatchResult =
  | {
      ok: true;
      document: HubSettingsDocument;
      /** The keys that changed, `null` for removed ones: what subscribers are pushed. */ changes: SettingsPatch;
      replayed?: true;
    }
  | { ok: false; reason: 'version_conflict'; current: HubSettingsDocument };

/** Told of every change once it is stored (on disk when the store has a file), before anyone can read it. */
export type SettingsChangeListener = (tenantId: string, key: DocumentKey, document: HubSettingsDocument, changes: SettingsPatch) => void;

/** A document as a store keeps it: its version, settings, and the idempotency keys it took. */
export interface StoredDocumentValue {
  version: number;
  settings: SettingsDocument['settings'];
  edits?: string[];
}

/** What a device last reported (`settings_reported`, without the envelope), and when. */
export interface ReportedEntry {
  reported: ReportedSettings;
  /** The subject of the session it came on: whose user document the device follows. */
  subject: DocumentKey;
  received_at: number;
}

/** The fields of a `settings_reported` frame, without the envelope. */
export type ReportedSettings = Omit<MessageOf<'settings_reported'>, keyof Envelope>;

/**
 * The hub's settings documents as settings sync and the settings routes use them: read, patch,
 * devices' reported settings, and listeners told of each change. `SettingsStore`
 * (settings-store.ts) keeps them in memory or in one JSON file; another engine can stand behind
 * this interface without them changing.
 */
export interface SettingsDocuments {
  /** Made when the documents were first created; every version belongs to it. */
  readonly epoch: string;
  /** Listeners of changes; see {@link SettingsChangeListener}. */
  readonly listeners: Set<SettingsChangeListener>;
  /** A document; an unknown one is empty at version 0. */
  document(tenantId: string, key: DocumentKey): HubSettingsDocument;
  /** The version of a document, without copying it. */
  version(tenantId: string, key: DocumentKey): number;
  /** Applies a merge patch once the changes before it are done (see {@link PatchConditions}). */
  patch(tenantId: string, key: DocumentKey, patch: SettingsPatch, conditions?: PatchConditions): Promise<SettingsPatchResult>;
  /**
   * Takes a change another hub node stored (several nodes on one store): kept when newer than
   * this copy. Returns the document as now held, or undefined when this copy had it already.
   * Listeners are not told (the change is not this store's).
   */
  adopt(tenantId: string, key: DocumentKey, stored: StoredDocumentValue): HubSettingsDocument | undefined;
  /** The document as stored (version, settings, idempotency keys), for other nodes to adopt; undefined for an unknown one. */
  stored(tenantId: string, key: DocumentKey): StoredDocumentValue | undefined;
  /** Keeps what a device last reported. */
  report(tenantId: string, deviceId: string, entry: ReportedEntry): void;
  /** What a device last reported, if anything. */
  reportOf(tenantId: string, deviceId: string): ReportedEntry | undefined;
  close(): Promise<void>;
}
