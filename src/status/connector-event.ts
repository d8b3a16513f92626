import type { OutboxLoss } from '../delivery/outbox.ts';
import type { ExecutionEnded } from '../execution/executor.ts';
import type { ChildName } from '../machines/supervisor.ts';
import type { Message } from '../protocol/messages.ts';
import type { DocumentKind } from '../protocol/settings-document.ts';
import type { SettingsConflict } from '../machines/settings-rebase.ts';
import type { SettingsIssue } from '../machines/settings-sync-state.ts';
import type { StateChange } from './connector-status.ts';

/** What the host is told about a channel (the `channel` connector event). */
export type ChannelNotice =
  | { kind: 'joined'; channel: string; recovery: 'none' | 'recovered' | 'lost' }
  /**
   * Sends that will not go out. `reason` is set for reliable ones: `unacked_full` (too many
   * unacknowledged), `ttl` (unacknowledged too long), `storage_failed` (could not be stored).
   */
  | { kind: 'expired'; channel: string; sends: Array<{ id: string; event: string }>; reason?: 'unacked_full' | 'ttl' | 'storage_failed' }
  | { kind: 'refused'; channel: string; reason: string; message: string }
  | { kind: 'left'; channel: string }
  | { kind: 'failed'; channel: string; error: string }
  /** An inbound message whose payload failed its handler's schema: no handler saw it. */
  | { kind: 'invalid'; channel: string; event: string; offset: number; issues: Array<{ path: string[]; message: string }> };

/** What the host is told about settings (the `settings` connector event). */
export type SettingsNotice =
  | { kind: 'changed'; keys: string[]; orgVersion: number; userVersion: number }
  /** A remote document failed the host's schema: refused whole, the previous one stays in force. */
  | { kind: 'rejected'; document: DocumentKind; version: number; issues: SettingsIssue[] }
  /** The same key changed here and at the hub: the hub's value stays. */
  | { kind: 'conflict'; conflicts: SettingsConflict[] };

/** What the host can be told about. */
export type ConnectorEvent =
  | ({ type: 'state' } & StateChange)
  | { type: 'message'; message: Message }
  /** User mode: show the user where to go and which code to enter. */
  | { type: 'login_prompt'; userCode: string; verificationUri: string; verificationUriComplete?: string; expiresAt: number }
  | { type: 'logged_out'; reason: string }
  | { type: 'tenant_changed'; tenant: string }
  | { type: 'switch_failed'; organization: string; reason: string }
  | { type: 'child.restarted'; child: ChildName; error: string }
  | { type: 'child.failed'; child: ChildName; error: string }
  /**
   * The hub's answer to the resume on each new session: `resumed` (nothing lost), `expired`
   * (`missed` requests waited past the hub's window and were dropped) or `reset` (the hub
   * restarted and lost what it held for this device).
   */
  | { type: 'resume'; status: 'resumed' | 'expired' | 'reset'; missed: number }
  /** The outbox did not deliver something: progress dropped while full, or entries past their TTL. */
  | ({ type: 'outbox_loss' } & OutboxLoss)
  /** A channel joined (with its recovery), refused, left or failed; sends that expired; an invalid inbound message. */
  | ({ type: 'channel' } & ChannelNotice)
  /** An execution ended: its outcome and duration (and failure code), for the host's metrics. */
  | ({ type: 'execution_ended' } & ExecutionEnded)
  /** Settings changed, a remote document was refused (it failed the schema), or an edit conflicted. */
  | ({ type: 'settings' } & SettingsNotice);
