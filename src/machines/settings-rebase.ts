import { type SettingsPatch, type SettingsValues, sameValue } from '../protocol/settings-document.ts';

/**
 * A local change to the user's settings, not yet accepted by the hub. `base` holds what each
 * edited key was in the user document the change was made on (a key absent there is absent
 * here), so the change can be replayed on a newer document: a three-way merge on keys.
 */
export interface PendingEdit {
  id: string;
  patch: SettingsPatch;
  base: SettingsValues;
}

/** The same key changed here and at the hub: the hub's value stays, the local one is reported. */
export interface SettingsConflict {
  editId: string;
  key: string;
  /** The value the local change was made on (undefined: the key was absent). */
  base: unknown;
  /** The value the local change set (undefined: it removed the key). */
  local: unknown;
  /** The value at the hub now (undefined: absent). */
  remote: unknown;
}

/** What is left of an edit replayed on a newer document. */
export interface Rebased {
  /** Keys still to send: unchanged remotely and not already at their new value. */
  patch: SettingsPatch;
  conflicts: SettingsConflict[];
}

const valueOf = (patchValue: unknown): unknown => (patchValue === null ? undefined : patchValue);

/**
 * Replays an edit on the user document as it is now. Per edited key: already at the local value
 * → nothing to send; unchanged since the edit's base → sent; changed to something else → a
 * conflict (the remote value stays).
 *
 * @example
 * const edit = { id: 'e1', patch: { theme: 'dark', font: 14 }, base: { theme: 'light', font: 12 } };
 * rebase(edit, { theme: 'light', font: 13 });
 * // { patch: { theme: 'dark' }, conflicts: [{ editId: 'e1', key: 'font', base: 12, local: 14, remote: 13 }] }
 */
export function rebase(edit: PendingEdit, current: SettingsValues): Rebased {
  const patch: SettingsPatch = {};
  const conflicts: SettingsConflict[] = [];
  for (const [key, value] of Object.entries(edit.patch)) {
    const local = valueOf(value);
    const remote = current[key];
    if (sameValue(remote, local)) continue;
    if (sameValue(remote, edit.base[key])) patch[key] = value;
    else conflicts.push({ editId: edit.id, key, base: edit.base[key], local, remote });
  }
  return { patch, conflicts };
}

/**
 * The base of a new edit: the current values of the keys it touches.
 *
 * @example
 * baseOf({ theme: 'dark' }, { theme: 'light', font: 12 }); // { theme: 'light' }
 */
export function baseOf(patch: SettingsPatch, user: SettingsValues): SettingsValues {
  const base: SettingsValues = {};
  for (const key of Object.keys(patch)) if (Object.hasOwn(user, key)) base[key] = user[key];
  return base;
}
