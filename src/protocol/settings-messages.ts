import { z } from 'zod';
import { DocumentKind, SettingsPatch, SettingsValues } from './settings-document.ts';
import { defineMessage } from './envelope.ts';

/*
 * Settings sync over the socket (docs/protocol.md, "Settings"). The documents themselves are
 * fetched and written over HTTP (`GET /v1/settings`, `PATCH /v1/settings/user`); the socket
 * carries the subscription, the hub's pushes and what the device applied.
 */

const Version = z.number().int().nonnegative();
const Epoch = z.string().min(1).max(128);

/** Connector → hub: push my settings changes on this session from now on. */
export const SettingsSubscribeMessage = defineMessage('settings_subscribe', {});

/**
 * Hub → connector: subscribed; every change after these versions will be pushed. A device whose
 * copy is at these versions (in this epoch) is up to date and need not fetch.
 */
export const SettingsSubscribedMessage = defineMessage('settings_subscribed', {
  epoch: Epoch,
  org_version: Version,
  user_version: Version,
});

/** Hub → connector: a document changed. `version` is the document's new version (old + 1). */
export const SettingsPatchMessage = defineMessage('settings_patch', {
  epoch: Epoch,
  document: DocumentKind,
  version: z.number().int().positive(),
  /** Top-level keys to their new value; `null` removes the key. */
  patch: SettingsPatch,
});

/**
 * Connector → hub: the reported document, what the device applied. Sent after every change it
 * applied or refused, so the hub can show drift (the device behind, or refusing a version).
 */
export const SettingsReportedMessage = defineMessage('settings_reported', {
  epoch: Epoch.optional(),
  org_version: Version,
  user_version: Version,
  /** Local edits not yet accepted by the hub. */
  pending_edits: z.number().int().nonnegative().default(0),
  /** The effective settings the device runs with. */
  settings: SettingsValues.optional(),
  /** The last document the device refused (it failed the host's schema); the previous one stays. */
  rejected: z
    .object({
      document: DocumentKind,
      version: Version,
      issues: z.array(z.object({ path: z.array(z.string().max(128)).max(32), message: z.string().max(1024) })).max(100),
    })
    .optional(),
});
