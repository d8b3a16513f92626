import { createHash } from 'node:crypto';
import type { Logger } from '../../log/logger.ts';
import { CloseCode, type MessageOf } from '../../protocol/index.ts';
import type { SettingsPatch } from '../../protocol/settings-document.ts';
import { getOrCreate } from '../../util/get-or-create.ts';
import { HubError } from '../core/errors.ts';
import type { SessionInfo } from '../core/events.ts';
import type { Session } from '../session/session.ts';
import type { DocumentKey, HubSettingsDocument, SettingsDocuments, StoredDocumentValue } from './settings-documents.ts';
import { SettingsStore } from './settings-store.ts';

/** Whose user document: a user's (signed in with a user token) or a device's. */
export type SettingsSubject = { userId: string } | { deviceId: string };

/** The key of a subject's user document: `user:<user id>` or `device:<device id>`. */
export function subjectKey(subject: SettingsSubject): DocumentKey {
  const [key, id] = 'userId' in subject ? (['user', subject.userId] as const) : (['device', subject.deviceId] as const);
  if (typeof id !== 'string' || id.length === 0) throw new HubError('invalid_settings', `a ${key} id must be a non-empty string`);
  return `${key}:${id}`;
}

/** The subject a session (or a request) speaks for: its user when it came with a user token, else its device. */
export function subjectOf(who: { device_id: string; user_id?: string | undefined }): SettingsSubject {
  return who.user_id !== undefined ? { userId: who.user_id } : { deviceId: who.device_id };
}

/**
 * The epoch a device is told: the store's, narrowed to the documents it follows (its tenant and
 * subject). Versions compare only within an epoch, so a device that switches organization (or
 * user) can never take the other scope's versions for its own and skip a fetch.
 */
export function scopedEpoch(storeEpoch: string, tenantId: string, key: DocumentKey): string {
  return `${storeEpoch}.${createHash('sha256').update(`${tenantId}\u0000${key}`).digest('base64url').slice(0, 16)}`;
}

/** Settings frames a session hands the hub. */
export type SettingsFrame = MessageOf<'settings_subscribe' | 'settings_reported'>;

const SEP = '\u0000';

/**
 * The hub's settings store (opened by `listen()`, like the usage ledger) and the sessions
 * subscribed to it. A session that sent `settings_subscribe` is answered with the versions of
 * its tenant's organization document and its subject's user document, and is pushed every change
 * to either from then on, until it closes. The answer and the registration happen in one tick,
 * and a change is pushed in the tick it is stored, so nothing stored after the answer is missed.
 *
 * @example
 * const settings = new SettingsSessions(options.settingsPath, logger, () => clock.now());
 * await settings.open();
 * settings.receive(session, info, message); // settings_subscribe or settings_reported
 */
export class SettingsSessions {
  #store: SettingsDocuments | undefined;
  #opening: Promise<SettingsDocuments> | undefined;
  /** Subscribed sessions by `tenant SEP document key`. */
  readonly #subscribers = new Map<string, Set<Session>>();
  /** The subscriptions of each session (to drop them when it closes) and the epoch it was told. */
  readonly #bySession = new Map<Session, { keys: string[]; epoch: string }>();
  readonly #log: Logger;

  readonly #openStore: () => Promise<SettingsDocuments>;

  /** `store` opens the documents: a path (one JSON file, in memory without one), or a hub engine's opener. */
  constructor(
    store: string | undefined | (() => Promise<SettingsDocuments>),
    logger: Logger,
    readonly now: () => number,
  ) {
    this.#log = logger;
    this.#openStore = typeof store === 'function' ? store : () => SettingsStore.open(store);
  }

  /** Opens the store once (reading it back); later calls wait for the same one. */
  async open(): Promise<void> {
    this.#opening ??= this.#openStore().then((store) => {
      store.listeners.add((tenantId, key, document, changes) => this.#push(tenantId, key, document, changes));
      return store;
    });
    this.#store = await this.#opening;
  }

  /** Resolves once the last change is stored. */
  /**
   * A change another hub node stored (several nodes): this copy takes it when newer, and the
   * sessions here subscribed to the document are pushed it.
   */
  adopt(tenantId: string, key: DocumentKey, stored: StoredDocumentValue, changes: SettingsPatch): void {
    const document = this.#store?.adopt(tenantId, key, stored);
    if (document) this.#push(tenantId, key, document, changes);
  }

  close(): Promise<void> {
    return this.#store?.close() ?? Promise.resolve();
  }

  /**
   * The store.
   *
   * @throws {HubError} `invalid_state` before `listen()` opened it.
   */
  get store(): SettingsDocuments {
    if (!this.#store) throw new HubError('invalid_state', 'the settings store opens with listen()');
    return this.#store;
  }

  /** A settings frame of an open session. */
  receive(session: Session, info: SessionInfo, message: SettingsFrame): void {
    if (message.type === 'settings_subscribe') return this.#subscribe(session, info);
    const { v: _v, id: _id, type: _type, ts: _ts, ...reported } = message;
    const subject = subjectKey(subjectOf(info));
    this.store.report(info.tenant_id, info.device_id, { reported, subject, received_at: this.now() });
    this.#log.debug(
      { org_version: reported.org_version, user_version: reported.user_version, rejected: reported.rejected?.document },
      'settings reported',
    );
  }

  /** Ends a closed session's subscriptions. */
  drop(session: Session): void {
    for (const key of this.#bySession.get(session)?.keys ?? []) {
      const sessions = this.#subscribers.get(key);
      sessions?.delete(session);
      if (sessions?.size === 0) this.#subscribers.delete(key);
    }
    this.#bySession.delete(session);
  }

  #subscribe(session: Session, info: SessionInfo): void {
    const store = this.store;
    const tenantId = info.tenant_id;
    const user = subjectKey(subjectOf(info));
    const epoch = scopedEpoch(store.epoch, tenantId, user);
    // Answer and register in the same tick: every change stored after the answer is pushed.
    session.send({
      type: 'settings_subscribed',
      epoch,
      org_version: store.version(tenantId, 'org'),
      user_version: store.version(tenantId, user),
    });
    const keys = [`${tenantId}${SEP}org`, `${tenantId}${SEP}${user}`];
    for (const key of keys) getOrCreate(this.#subscribers, key, () => new Set<Session>()).add(session);
    this.#bySession.set(session, { keys, epoch });
    this.#log.debug({ subject: user }, 'settings subscribed');
  }

  #push(tenantId: string, key: DocumentKey, document: HubSettingsDocument, changes: SettingsPatch): void {
    const sessions = this.#subscribers.get(`${tenantId}${SEP}${key}`);
    if (!sessions) return;
    const message = {
      type: 'settings_patch',
      document: key === 'org' ? 'org' : 'user',
      version: document.version,
      patch: changes,
    } as const;
    for (const session of sessions) {
      try {
        // Each session in the epoch it was told (an org change reaches every subject of the tenant).
        session.send({ ...message, epoch: this.#bySession.get(session)?.epoch ?? document.epoch });
      } catch (error) {
        // The patch does not fit the hub's frame limit: a device that missed it must fetch anew.
        this.#log.error({ err: error, tenant_id: tenantId, document: message.document, version: document.version }, 'settings push failed');
        session.close(CloseCode.internalError, 'internal_error');
      }
    }
    this.#log.debug({ tenant_id: tenantId, document: key, version: document.version, sessions: sessions.size }, 'settings pushed');
  }
}
