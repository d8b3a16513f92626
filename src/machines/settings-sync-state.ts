import {
  applyPatch,
  type DocumentKind,
  effectiveSettings,
  emptyDocument,
  type SettingsDocument,
  type SettingsPatch,
  type SettingsSnapshot,
  type SettingsValues,
} from '../protocol/settings-document.ts';
import { baseOf, type PendingEdit, rebase, type SettingsConflict } from './settings-rebase.ts';

/*
 * What the settings-sync machine knows, and the pure steps that change it. The machine decides
 * when a step runs; these functions decide what it does. The whole state is the local cache: it
 * is written to disk after every change and read back at start.
 */

/** A local edit in the queue, with the conflicts found for it so far. */
export interface QueuedEdit extends PendingEdit {
  conflicts: SettingsConflict[];
}

/** The device's copy of its settings. */
export interface SettingsState {
  /** The hub's settings epoch the versions belong to; undefined before the first fetch. */
  epoch: string | undefined;
  /** The last good documents (they passed the host's schema). */
  org: SettingsDocument;
  user: SettingsDocument;
  /** The last version of each document the device refused; the previous one stayed in force. */
  refused: { org?: number; user?: number };
  /** Local edits of the user document not yet accepted by the hub, oldest first. */
  pending: QueuedEdit[];
}

/** One problem a schema found, by path. */
export interface SettingsIssue {
  path: string[];
  message: string;
}

/** The host's check of effective settings (its zod schema): the parsed value, or the issues. */
export type ValidateSettings = (settings: SettingsValues) => { ok: true; value: unknown } | { ok: false; issues: SettingsIssue[] };

/** A document the device refused. */
export interface Rejection {
  document: DocumentKind;
  version: number;
  issues: SettingsIssue[];
}

/** How an edit left the queue. */
export interface FinishedEdit {
  id: string;
  /** `accepted`: every key is at the hub (some may have been there already); `conflict`: at least one key kept the hub's value. */
  status: 'accepted' | 'conflict';
  conflicts: SettingsConflict[];
  /** The user document's version once it was done. */
  version: number;
}

/** A state with nothing in it: version 0 of both documents. */
export function emptySettingsState(): SettingsState {
  return { epoch: undefined, org: emptyDocument(), user: emptyDocument(), refused: {}, pending: [] };
}

/** The highest version of a document the device has seen, applied or refused. */
export function knownVersion(state: SettingsState, kind: DocumentKind): number {
  return Math.max(state[kind].version, state.refused[kind] ?? -1);
}

/** Whether the device refused a version newer than the one in force (it needs a full document next). */
function behind(state: SettingsState, kind: DocumentKind): boolean {
  const refused = state.refused[kind];
  return refused !== undefined && refused >= state[kind].version;
}

/** The user document with the local edits on top, as the host sees it. */
export function localUserSettings(state: SettingsState): SettingsValues {
  return state.pending.reduce((settings, edit) => applyPatch(settings, edit.patch), state.user.settings);
}

/**
 * The effective settings, parsed by the host's schema: defaults, the user document with the local
 * edits, the organization document on top. When the edits would make it invalid against a newer
 * remote document, the remote documents alone count.
 */
export function effectiveOf(
  state: SettingsState,
  defaults: SettingsValues,
  validate: ValidateSettings,
): { ok: true; value: unknown } | { ok: false; issues: SettingsIssue[] } {
  const withEdits = validate(effectiveSettings(defaults, localUserSettings(state), state.org.settings));
  if (withEdits.ok || state.pending.length === 0) return withEdits;
  return validate(effectiveSettings(defaults, state.user.settings, state.org.settings));
}

/** The outcome of offering a document: taken (it passed the schema) or refused (it stays out). */
export type Offer = { state: SettingsState; rejection?: Rejection };

/** Takes a remote document if the effective settings with it pass the host's schema. */
export function offerDocument(
  state: SettingsState,
  kind: DocumentKind,
  doc: SettingsDocument,
  defaults: SettingsValues,
  validate: ValidateSettings,
): Offer {
  const candidate: SettingsState = { ...state, [kind]: doc };
  const checked = validate(effectiveSettings(defaults, candidate.user.settings, candidate.org.settings));
  if (checked.ok) {
    const refused = { ...state.refused };
    if ((refused[kind] ?? -1) <= doc.version) delete refused[kind];
    return { state: { ...candidate, refused } };
  }
  return {
    state: { ...state, refused: { ...state.refused, [kind]: doc.version } },
    rejection: { document: kind, version: doc.version, issues: checked.issues },
  };
}

/**
 * Takes a full fetch. In the same epoch a document only moves forward; a new epoch (the hub lost
 * its store, or this is the first fetch) replaces both.
 */
export function offerSnapshot(
  state: SettingsState,
  snapshot: SettingsSnapshot,
  defaults: SettingsValues,
  validate: ValidateSettings,
): { state: SettingsState; rejections: Rejection[] } {
  const reset = snapshot.epoch !== state.epoch;
  let next: SettingsState = reset
    ? { ...state, epoch: snapshot.epoch, refused: {}, org: { ...state.org, version: 0 }, user: { ...state.user, version: 0 } }
    : state;
  const rejections: Rejection[] = [];
  for (const kind of ['org', 'user'] as const) {
    const doc = snapshot[kind];
    // A new epoch takes even version 0; the same epoch only what is newer than what was seen.
    if (!reset && doc.version <= knownVersion(next, kind)) continue;
    const offer = offerDocument(next, kind, doc, defaults, validate);
    next = offer.state;
    if (offer.rejection) rejections.push(offer.rejection);
  }
  return { state: next, rejections };
}

/** A pushed change, as the machine sees it. */
export interface RemotePatch {
  epoch: string;
  document: DocumentKind;
  version: number;
  patch: SettingsPatch;
}

/** What a pushed patch does: nothing (seen already), a fetch (a gap), or a change. */
export type PatchOutcome = { kind: 'stale' } | { kind: 'gap' } | ({ kind: 'offered' } & Offer);

/** Applies a pushed patch if it is the next version of a document in force; see {@link PatchOutcome}. */
export function offerPatch(state: SettingsState, patch: RemotePatch, defaults: SettingsValues, validate: ValidateSettings): PatchOutcome {
  if (patch.epoch !== state.epoch) return { kind: 'gap' };
  if (patch.version <= knownVersion(state, patch.document)) return { kind: 'stale' };
  const doc = state[patch.document];
  if (behind(state, patch.document) || patch.version !== doc.version + 1) return { kind: 'gap' };
  const offer = offerDocument(
    state,
    patch.document,
    { version: patch.version, settings: applyPatch(doc.settings, patch.patch) },
    defaults,
    validate,
  );
  return { kind: 'offered', ...offer };
}

/**
 * What to write for the queue's head on `base`, the user document as the device last heard of it
 * (the one in force, or a 409's): the keys unchanged there since the edit was made. Nothing is
 * settled on it: changes made since may still be on their way, so a key that looks already done
 * or in conflict there is only left out of the write. The write's answer settles it (see
 * {@link acceptHead} and {@link rebaseQueue}); an empty write still asks the hub whether `base`
 * is current.
 */
export function writeOf(state: SettingsState, base: SettingsDocument): SettingsPatch {
  const head = state.pending[0];
  return head ? rebase(head, base.settings).patch : {};
}

/**
 * Replays the queue on `against`, the user document a 409 just brought (or a newer one heard
 * since): the hub's own answer, so what it settles is what the hub holds. Edits with nothing left
 * to send leave the queue (finished), conflicts are recorded, and the first edit with something
 * to send stays at the head with only those keys. Returns the conflicts found now.
 */
export function rebaseQueue(
  state: SettingsState,
  against: SettingsDocument,
): { state: SettingsState; conflicts: SettingsConflict[]; finished: FinishedEdit[] } {
  const pending = [...state.pending];
  const found: SettingsConflict[] = [];
  const finished: FinishedEdit[] = [];
  while (pending.length > 0) {
    const head = pending[0]!;
    const { patch, conflicts } = rebase(head, against.settings);
    found.push(...conflicts);
    const all = [...head.conflicts, ...conflicts];
    if (Object.keys(patch).length > 0) {
      pending[0] = { ...head, patch, base: baseOf(patch, head.base), conflicts: all };
      break;
    }
    pending.shift();
    finished.push({ id: head.id, status: all.length > 0 ? 'conflict' : 'accepted', conflicts: all, version: against.version });
  }
  return { state: { ...state, pending }, conflicts: found, finished };
}

/**
 * The hub took the head's write (see {@link writeOf}) and answered with the user document it
 * made: the hub's now. The head is done; the keys the write left out and the hub holds at another
 * value are its conflicts (returned as `conflicts`, the ones found now).
 */
export function acceptHead(
  state: SettingsState,
  doc: SettingsDocument & { epoch: string },
  defaults: SettingsValues,
  validate: ValidateSettings,
): Offer & { finished: FinishedEdit | undefined; conflicts: SettingsConflict[] } {
  const [head, ...rest] = state.pending;
  let offer: Offer = { state: { ...state, pending: rest } };
  // Newer than ours (the push of this change may not be here yet): take it whole, if it passes.
  if (doc.epoch === offer.state.epoch && doc.version > knownVersion(offer.state, 'user'))
    offer = offerDocument(offer.state, 'user', doc, defaults, validate);
  if (!head) return { ...offer, finished: undefined, conflicts: [] };
  // Keys `doc` would still take can only show in the answer to a retried write the hub had taken
  // (its idempotency key): they changed back after it. The edit went in; they stay as they are.
  const { conflicts } = rebase(head, doc.settings);
  const all = [...head.conflicts, ...conflicts];
  return {
    ...offer,
    conflicts,
    finished: { id: head.id, status: all.length > 0 ? 'conflict' : 'accepted', conflicts: all, version: doc.version },
  };
}
