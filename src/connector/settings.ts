import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { Observable } from 'rxjs';
import type { Actor } from 'xstate';
import { z } from 'zod';
import type { StorageAdapter } from '../adapters/storage.ts';
import type { Logger } from '../log/logger.ts';
import type { supervisorMachine } from '../machines/supervisor.ts';
import {
  applyPatch,
  changedKeys,
  effectiveSettings,
  SettingsDocument,
  SettingsPatch,
  type SettingsValues,
} from '../protocol/settings-document.ts';
import type { SettingsConflict } from '../machines/settings-rebase.ts';
import {
  effectiveOf,
  emptySettingsState,
  localUserSettings,
  type SettingsIssue,
  type SettingsState,
  type ValidateSettings,
} from '../machines/settings-sync-state.ts';
import { BehaviorSubject } from '../util/rx.ts';
import type { SettingsNotice } from '../status/connector-event.ts';

export type { SettingsNotice } from '../status/connector-event.ts';

/** The cache entry in the connector's store. */
export const SETTINGS_CACHE = 'settings.json';

/**
 * How a local edit ended: `accepted` (at the hub), `conflict` (some keys kept the hub's value:
 * see `conflicts`), or `deferred` (the connector stopped first; the edit is in the cache and is
 * sent after the next start).
 */
export interface EditOutcome {
  status: 'accepted' | 'conflict' | 'deferred';
  conflicts: SettingsConflict[];
  /** The user document's version once done (not for `deferred`). */
  version?: number;
}

/** A settings call that cannot be done: the edit is invalid, settings are static, or not loaded yet. */
export class SettingsError extends Error {
  override readonly name = 'SettingsError';
  constructor(
    readonly code: 'invalid' | 'read_only' | 'not_ready' | 'unavailable' | 'invalid_static' | 'invalid_defaults',
    message: string,
    readonly issues: SettingsIssue[] = [],
  ) {
    super(issues.length === 0 ? message : `${message}: ${issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  }
}

/**
 * The effective settings: local defaults, the user's document (with local edits) and the
 * organization's on top, parsed by the host's schema.
 *
 * @example
 * const connector = createConnector(config, { settings: { schema: z.object({ theme: z.enum(['light', 'dark']).default('light'), features: z.record(z.string(), z.boolean()).default({}) }) } });
 * await connector.settings.ready;
 * connector.settings.value$.subscribe((s) => applyTheme(s.theme));
 * if (connector.settings.flag('task_sharing')) showShareButton();
 * const { status } = await connector.settings.update({ theme: 'dark' });
 */
export interface SettingsHandle<T> {
  /** `synced` (with a hub), `standalone` (no hub: the cache and local edits), `static` (fixed, read-only). */
  readonly mode: 'synced' | 'standalone' | 'static';
  /** Resolves once the cache is loaded (at once for static settings). Edits wait for it. */
  readonly ready: Promise<void>;
  /** The effective settings now. */
  readonly value: T;
  /** The effective settings now and on every change. Completes on `stop()`. */
  readonly value$: Observable<T>;
  /** A feature flag: `features.<name>` of the effective settings when it is a boolean, else `fallback`. */
  flag(name: string, fallback?: boolean): boolean;
  /**
   * Changes the user's settings (`null` removes a key): applied locally at once, written to the
   * hub when connected (kept in the cache until then). Resolves when the hub took it or a key
   * conflicted; never rejects.
   *
   * @throws {SettingsError} `invalid` when the result would fail the schema, `read_only` for
   *   static settings, `not_ready` before `ready`, `unavailable` while the settings actor is down.
   */
  update(patch: SettingsPatch): Promise<EditOutcome>;
  /** Document versions in force and the number of local edits not yet at the hub. */
  readonly documents: { epoch?: string; orgVersion: number; userVersion: number; pendingEdits: number };
}

/** zod's issues as settings issues: a path of strings and a message. */
const issuesOf = (error: z.ZodError): SettingsIssue[] => error.issues.map((i) => ({ path: i.path.map(String), message: i.message }));

/** How a zod schema becomes the machine's check. */
export function validatorOf(schema: z.ZodType): ValidateSettings {
  return (settings) => {
    const parsed = schema.safeParse(settings);
    return parsed.success ? { ok: true, value: parsed.data } : { ok: false, issues: issuesOf(parsed.error) };
  };
}

const CacheFile = z.object({
  format: z.literal(1),
  state: z.object({
    epoch: z.string().optional(),
    org: SettingsDocument,
    user: SettingsDocument,
    refused: z.object({ org: z.number().int().optional(), user: z.number().int().optional() }).default({}),
    pending: z
      .array(
        z.object({
          id: z.string(),
          patch: SettingsPatch,
          base: z.record(z.string(), z.unknown()),
          conflicts: z.array(z.any()).default([]),
        }),
      )
      .default([]),
  }),
});

export interface DeviceSettingsOptions {
  actor: Actor<typeof supervisorMachine>;
  mode: SettingsHandle<unknown>['mode'];
  validate: ValidateSettings;
  defaults: SettingsValues;
  /** Static mode: the fixed document (it plays the organization's). */
  staticSettings?: SettingsValues;
  /** Where the cache lives. */
  files: StorageAdapter;
  logger: Logger;
  notify(notice: SettingsNotice): void;
}

/** The connector's settings: the cache, the typed value, edits and their outcomes. */
export class DeviceSettings<T> implements SettingsHandle<T> {
  readonly mode: SettingsHandle<T>['mode'];
  readonly ready: Promise<void>;
  readonly #options: DeviceSettingsOptions;
  readonly #value$: BehaviorSubject<T>;
  #state: SettingsState = emptySettingsState();
  #loaded = false;
  #markReady: () => void = () => {};
  readonly #waiting = new Map<string, (outcome: EditOutcome) => void>();
  /** The cache write under way, and the state to write after it (only the latest counts). */
  #writing: Promise<void> | undefined;
  #next: SettingsState | undefined;

  /** @throws {SettingsError} `invalid_defaults` or `invalid_static` when those fail the schema. */
  constructor(options: DeviceSettingsOptions) {
    this.#options = options;
    this.mode = options.mode;
    const first = options.validate(effectiveSettings(options.defaults, {}, options.staticSettings ?? {}));
    if (!first.ok)
      throw new SettingsError(
        options.staticSettings ? 'invalid_static' : 'invalid_defaults',
        options.staticSettings ? 'the static settings fail the schema' : 'the default settings fail the schema',
        first.issues,
      );
    this.#value$ = new BehaviorSubject(first.value as T);
    this.ready = new Promise((resolve) => (this.#markReady = resolve));
    if (options.staticSettings) {
      this.#loaded = true;
      this.#markReady();
      return;
    }
    const { actor } = options;
    actor.on('settings.changed', ({ state, effective }) => this.#changed(state, effective as T));
    actor.on('settings.rejected', ({ rejection }) => {
      options.logger.warn(
        { document: rejection.document, version: rejection.version, issues: rejection.issues },
        'remote settings refused: they fail the schema',
      );
      options.notify({ kind: 'rejected', ...rejection });
    });
    actor.on('settings.conflict', ({ conflicts }) => {
      options.logger.warn({ keys: conflicts.map((c) => c.key) }, 'settings conflict: the hub changed the same keys');
      options.notify({ kind: 'conflict', conflicts });
    });
    actor.on('settings.edit_done', ({ edit }) => {
      this.#waiting.get(edit.id)?.({ status: edit.status, conflicts: edit.conflicts, version: edit.version });
      this.#waiting.delete(edit.id);
    });
  }

  get value(): T {
    return this.#value$.value;
  }

  get value$(): Observable<T> {
    return this.#value$.asObservable();
  }

  get documents(): SettingsHandle<T>['documents'] {
    const { epoch, org, user, pending } = this.#state;
    return { ...(epoch !== undefined && { epoch }), orgVersion: org.version, userVersion: user.version, pendingEdits: pending.length };
  }

  flag(name: string, fallback = false): boolean {
    const features = (this.value as { features?: unknown } | undefined)?.features;
    const flag = typeof features === 'object' && features !== null ? (features as Record<string, unknown>)[name] : undefined;
    return typeof flag === 'boolean' ? flag : fallback;
  }

  update(patch: SettingsPatch): Promise<EditOutcome> {
    if (this.mode === 'static') throw new SettingsError('read_only', 'static settings cannot be changed');
    if (!this.#loaded) throw new SettingsError('not_ready', 'settings are not loaded yet: await connector.settings.ready');
    const shape = SettingsPatch.safeParse(patch);
    if (!shape.success) throw new SettingsError('invalid', 'not a settings patch', issuesOf(shape.error));
    const { defaults, validate } = this.#options;
    const checked = validate(effectiveSettings(defaults, applyPatch(localUserSettings(this.#state), patch), this.#state.org.settings));
    if (!checked.ok) throw new SettingsError('invalid', 'the edit would make the settings invalid', checked.issues);
    // A degraded supervisor may be without its settings actor: the edit would go nowhere.
    if (this.#options.actor.system.get('settings')?.getSnapshot().status !== 'active') {
      throw new SettingsError('unavailable', 'the settings actor is not running (see status.supervisor); the edit was not taken');
    }
    const id = `edit_${randomUUID()}`;
    const done = new Promise<EditOutcome>((resolve) => this.#waiting.set(id, resolve));
    this.#options.actor.send({ type: 'settings.edit', id, patch });
    return done;
  }

  /** Reads the cache and starts the settings actor from it. Never rejects: a bad cache is logged and ignored. */
  async load(): Promise<void> {
    if (this.#loaded) return;
    const { files, logger, actor } = this.#options;
    let state = emptySettingsState();
    try {
      const data = await files.read(SETTINGS_CACHE);
      if (data !== undefined) state = this.#usable(CacheFile.parse(JSON.parse(data.toString('utf8'))).state as SettingsState);
    } catch (error) {
      logger.warn({ err: error, location: files.location }, 'settings cache unreadable: starting without it');
    }
    this.#state = state;
    this.#loaded = true;
    const effective = effectiveOf(state, this.#options.defaults, this.#options.validate);
    if (effective.ok && !isDeepStrictEqual(effective.value, this.#value$.value)) this.#value$.next(effective.value as T);
    actor.send({ type: 'settings.load', state });
    this.#markReady();
  }

  /** Waits for the last cache write; edits still waiting resolve `deferred`. */
  async stop(): Promise<void> {
    for (const resolve of this.#waiting.values()) resolve({ status: 'deferred', conflicts: [] });
    this.#waiting.clear();
    while (this.#writing) await this.#writing;
    this.#value$.complete();
  }

  /** A cache written by an older schema may not pass this one: its documents go, its edits stay. */
  #usable(state: SettingsState): SettingsState {
    const { defaults, validate } = this.#options;
    if (effectiveOf(state, defaults, validate).ok) return state;
    this.#options.logger.warn('cached settings fail the schema: fetching them again');
    return { ...emptySettingsState(), pending: state.pending };
  }

  #changed(state: SettingsState, effective: T): void {
    const before = this.#state;
    this.#state = state;
    const keys = changedKeys(
      effectiveSettings(this.#options.defaults, localUserSettings(before), before.org.settings),
      effectiveSettings(this.#options.defaults, localUserSettings(state), state.org.settings),
    );
    this.#persist(state);
    if (keys.length === 0) return;
    this.#value$.next(effective);
    this.#options.notify({ kind: 'changed', keys, orgVersion: state.org.version, userVersion: state.user.version });
  }

  /** Writes the cache; while a write is under way only the latest state waits for the next. */
  #persist(state: SettingsState): void {
    this.#next = state;
    if (this.#writing) return;
    this.#writing = (async () => {
      while (this.#next) {
        const next = this.#next;
        this.#next = undefined;
        try {
          await this.#options.files.write(SETTINGS_CACHE, `${JSON.stringify({ format: 1, state: next })}\n`);
        } catch (error) {
          this.#options.logger.error({ err: error }, 'cannot write the settings cache');
        }
      }
      this.#writing = undefined;
    })();
  }
}
