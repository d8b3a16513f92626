import type { SettingsPatch, SettingsSnapshot } from '../../protocol/settings-document.ts';
import type { DocumentKey, HubSettingsDocument, PatchConditions, ReportedSettings, SettingsPatchResult } from './settings-documents.ts';
import type { SettingsSessions, SettingsSubject } from './settings-sessions.ts';
import { scopedEpoch, subjectKey } from './settings-sessions.ts';

/** What `hub.settings.reported()` and `GET /v1/tenants/{t}/devices/{d}/settings/reported` answer. */
export interface ReportedSettingsView {
  /** The fields of the device's last `settings_reported`; null when it has not reported since the hub started. */
  reported: ReportedSettings | null;
  /** When the hub received it (hub clock, ms since the Unix epoch); null without a report. */
  received_at: number | null;
  /** The user document the device follows: `user:<id>` or `device:<id>`. */
  subject: DocumentKey;
  /** The hub's epoch and the versions of the documents the device follows. */
  current: { epoch: string; org_version: number; user_version: number };
  /**
   * The device is not where the hub is: the report names another epoch or other versions, or a
   * document it refused. False without a report (the hub cannot tell).
   */
  drift: boolean;
}

/**
 * Settings sync, hub side (`hub.settings`): each tenant's organization document and each
 * subject's user document (a user's, for devices signed in with a user token, else the
 * device's), versioned from 0 up by one per change, and what devices reported they applied.
 * Every change is pushed as `settings_patch` to the subscribed sessions it concerns, whether it
 * came through here or over HTTP. The store opens with `listen()`: calls before it throw
 * `invalid_state`.
 *
 * A patch is a JSON merge patch on top-level keys: a value replaces the key's value whole,
 * `null` removes the key. One that changes nothing keeps the version and is not pushed. With
 * `version`, a document at another version is left alone and the result is a conflict carrying
 * it.
 */
export class HubSettings {
  readonly #sessions: SettingsSessions;

  constructor(sessions: SettingsSessions) {
    this.#sessions = sessions;
  }

  /**
   * A tenant's organization document (empty at version 0 until it is first patched).
   *
   * @example
   * hub.settings.org('acme'); // { epoch: 'set_…', version: 3, settings: { theme: 'dark' } }
   */
  org(tenantId: string): HubSettingsDocument {
    return this.#sessions.store.document(tenantId, 'org');
  }

  /**
   * A user document: a user's (`{ userId }`) or a device's (`{ deviceId }`).
   *
   * @example
   * hub.settings.user('acme', { userId: 'ada' }); // { epoch: 'set_…', version: 1, settings: { beta: true } }
   */
  user(tenantId: string, subject: SettingsSubject): HubSettingsDocument {
    return this.#sessions.store.document(tenantId, subjectKey(subject));
  }

  /**
   * Both documents a subject's device follows, as `GET /v1/settings` answers.
   *
   * @example
   * hub.settings.snapshot('acme', { deviceId: 'laptop-1' }); // { epoch, org: { version, settings }, user: { version, settings } }
   */
  snapshot(tenantId: string, subject: SettingsSubject): SettingsSnapshot {
    const { epoch: _store, ...org } = this.org(tenantId);
    const { epoch: _same, ...user } = this.user(tenantId, subject);
    return { epoch: this.deviceEpoch(tenantId, subject), org, user };
  }

  /**
   * The epoch devices of a subject are told (in `settings_subscribed`, pushes and answers): the
   * store's epoch narrowed to the tenant and subject, so versions of another scope never pass
   * for theirs.
   *
   * @example
   * hub.settings.deviceEpoch('acme', { deviceId: 'laptop-1' }); // 'set_….Qm9Rz1x7aK2pVw0c'
   */
  deviceEpoch(tenantId: string, subject: SettingsSubject): string {
    return scopedEpoch(this.epoch, tenantId, subjectKey(subject));
  }

  /**
   * The store's epoch, as operators see it.
   *
   * @throws {HubError} `invalid_state` before `listen()` opened the store.
   * @example
   * hub.settings.epoch; // 'set_…'
   */
  get epoch(): string {
    return this.#sessions.store.epoch;
  }

  /**
   * Patches a tenant's organization document and pushes the change to the tenant's subscribed
   * sessions.
   *
   * @throws {HubError} `invalid_settings`, `too_large` or `invalid_state` (rejects). Rejects
   *   with a `StorageError` when the settings file cannot be written (nothing changed then).
   * @example
   * const result = await hub.settings.patchOrg('acme', { theme: 'dark', legacy_ui: null });
   * if (result.ok) result.document.version; // 4
   * await hub.settings.patchOrg('acme', { theme: 'light' }, { version: 3 }); // { ok: false, reason: 'version_conflict', current: { version: 4, … } }
   */
  async patchOrg(tenantId: string, patch: SettingsPatch, conditions: PatchConditions = {}): Promise<SettingsPatchResult> {
    return this.#sessions.store.patch(tenantId, 'org', patch, conditions);
  }

  /**
   * Patches a user document (a user's or a device's) and pushes the change to the sessions of
   * that subject that subscribed. Devices write with all of {@link PatchConditions}: the epoch and
   * version they edited, and the edit's id as its idempotency key.
   *
   * @throws {HubError} `invalid_settings`, `too_large` or `invalid_state` (rejects), as {@link HubSettings.patchOrg}.
   * @example
   * await hub.settings.patchUser('acme', { userId: 'ada' }, { editor_font: 14 }, { version: 2 });
   */
  async patchUser(
    tenantId: string,
    subject: SettingsSubject,
    patch: SettingsPatch,
    conditions: PatchConditions = {},
  ): Promise<SettingsPatchResult> {
    return this.#sessions.store.patch(tenantId, subjectKey(subject), patch, conditions);
  }

  /**
   * What a device last reported it applied, and whether that drifts from the hub's documents.
   *
   * @example
   * hub.settings.reported('acme', 'laptop-1');
   * // { reported: { epoch, org_version: 3, user_version: 1, pending_edits: 0, … }, received_at, subject: 'device:laptop-1',
   * //   current: { epoch, org_version: 4, user_version: 1 }, drift: true }
   */
  reported(tenantId: string, deviceId: string): ReportedSettingsView {
    const store = this.#sessions.store;
    const entry = store.reportOf(tenantId, deviceId);
    const subject = entry?.subject ?? subjectKey({ deviceId });
    const current = {
      epoch: scopedEpoch(store.epoch, tenantId, subject),
      org_version: store.version(tenantId, 'org'),
      user_version: store.version(tenantId, subject),
    };
    if (!entry) return { reported: null, received_at: null, subject, current, drift: false };
    const { reported } = entry;
    const drift =
      (reported.epoch !== undefined && reported.epoch !== current.epoch) ||
      reported.org_version !== current.org_version ||
      reported.user_version !== current.user_version ||
      reported.rejected !== undefined;
    return { reported, received_at: entry.received_at, subject, current, drift };
  }
}
