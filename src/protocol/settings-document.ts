import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';

/*
 * The settings model shared by the hub and the connector. Two documents, each a flat JSON object
 * with a version: the organization's (read-only to devices, authoritative where keys overlap:
 * "org wins") and the user's (editable). A patch is a JSON merge patch on top-level
 * keys (RFC 7396 at depth one): a key's value replaces the old one whole, `null` removes it.
 */

/** Largest settings document the hub keeps or a patch it takes, in bytes of JSON. */
export const MAX_SETTINGS_BYTES = 64 * 1024;

const Key = z.string().min(1).max(128);

/** A settings object: top-level keys to JSON values. */
export const SettingsValues = z.record(Key, z.unknown());
export type SettingsValues = Record<string, unknown>;

/** A patch: top-level keys to their new value, `null` to remove the key. */
export const SettingsPatch = z.record(Key, z.unknown());
export type SettingsPatch = Record<string, unknown>;

/** Which document: the organization's (read-only to devices) or the user's. */
export const DocumentKind = z.enum(['org', 'user']);
export type DocumentKind = z.infer<typeof DocumentKind>;

/** One versioned document. Versions start at 0 (empty) and go up by one per change. */
export const SettingsDocument = z.object({
  version: z.number().int().nonnegative(),
  settings: SettingsValues,
});
export type SettingsDocument = z.infer<typeof SettingsDocument>;

/**
 * Both documents of a device, as `GET /v1/settings` answers. `epoch` names the hub's settings
 * store: versions compare only within one epoch (a hub that lost its store starts a new one).
 */
export const SettingsSnapshot = z.object({
  epoch: z.string().min(1).max(128),
  org: SettingsDocument,
  user: SettingsDocument,
});
export type SettingsSnapshot = z.infer<typeof SettingsSnapshot>;

/** An empty document at version 0. */
export const emptyDocument = (): SettingsDocument => ({ version: 0, settings: {} });

/**
 * Applies a patch: each key's value replaces the old one, `null` removes the key.
 *
 * @example
 * applyPatch({ theme: 'light', beta: true }, { theme: 'dark', beta: null }); // { theme: 'dark' }
 */
export function applyPatch(settings: SettingsValues, patch: SettingsPatch): SettingsValues {
  const next: SettingsValues = { ...settings };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete next[key];
    // defineProperty: a `__proto__` key stays a plain key instead of changing the prototype.
    else Object.defineProperty(next, key, { value, enumerable: true, writable: true, configurable: true });
  }
  return next;
}

/** Whether two JSON values are equal (deep, key order ignored). */
export function sameValue(a: unknown, b: unknown): boolean {
  return isDeepStrictEqual(a, b);
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The effective settings: local defaults, then the user's document, then the organization's.
 * The organization wins per key, and one level into objects (so an org feature flag overrides
 * the user's flag of that name and leaves their other flags alone).
 *
 * @example
 * effectiveSettings({ theme: 'light' }, { theme: 'dark', features: { a: true } }, { features: { b: false } });
 * // { theme: 'dark', features: { a: true, b: false } }
 */
export function effectiveSettings(defaults: SettingsValues, user: SettingsValues, org: SettingsValues): SettingsValues {
  let merged: SettingsValues = { ...defaults };
  for (const layer of [user, org]) {
    const step: SettingsPatch = {};
    for (const [key, value] of Object.entries(layer)) {
      const below = merged[key];
      step[key] = isPlainObject(below) && isPlainObject(value) ? { ...below, ...value } : value;
    }
    merged = applyPatch(merged, step);
  }
  return merged;
}

/** The top-level keys whose values differ between two settings objects. */
export function changedKeys(before: SettingsValues, after: SettingsValues): string[] {
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...keys].filter((key) => !sameValue(before[key], after[key])).sort();
}

/** Size of a value as JSON, in bytes: documents and patches are bounded by {@link MAX_SETTINGS_BYTES}. */
export function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value));
}
