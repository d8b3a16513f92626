import { z } from 'zod';
import { defineMessage, type Envelope, MessageId } from './envelope.ts';
import { SettingsPatchMessage, SettingsReportedMessage, SettingsSubscribedMessage, SettingsSubscribeMessage } from './settings-messages.ts';

/*
 * Wire protocol v1: one schema per message. Field names are snake_case
 * (`device_id`, `tenant_id`, `request_id`, job types `playbook|tool|chain`, …; docs/protocol.md).
 * To add a message type: define its schema here and add it to `messageSchemas`; the codec,
 * the JSON Schema files and the docs pick it up from there.
 */

const Id = z.string().min(1).max(256);
const Json = z.record(z.string(), z.unknown());
/**
 * Sequence number of a reliable message, per device and direction, from 1. The receiver
 * acknowledges with `ack{seq}` (everything up to `seq`); the sender resends what was not
 * acknowledged after a reconnect, and the receiver drops what it has seen by message `id`.
 */
const Seq = z.number().int().positive();
const Count = z.number().int().nonnegative();
/**
 * Optional protocol features a peer offers, announced in `connect` and answered in
 * `connect_ack` with those the hub also speaks. A peer that announces none is answered with
 * none: the v1 exchange, byte for byte. Known: `channel_ack` (reliable channel messages).
 */
const Capabilities = z.array(z.string().min(1).max(64)).max(32);

/** How busy a device is: in `connect` and in `capacity` messages. */
const CapacityFields = {
  running: Count,
  queued: Count,
  max_concurrency: z.number().int().positive(),
  max_queue: Count,
  saturated: z.boolean(),
  /** Request ids running or queued on the device: the hub recounts what is out from them. */
  active: z.array(Id).max(100_000).optional(),
};

// ─── handshake ──────────────────────────────────────────────────────────────────────────

/** Connector → hub, first frame on a new socket. */
export const ConnectMessage = defineMessage('connect', {
  device_id: Id,
  tenant_id: Id,
  /** Bearer credential: a static token now, a device JWT from the auth machine later. */
  token: z.string().min(1).max(8192),
  client: z.object({ name: z.string().max(128), version: z.string().max(64) }).optional(),
  /**
   * Where inbound delivery left off: the hub epoch of the last session (from its `connect_ack`)
   * and the last inbound `seq` the device processed. The hub redelivers what came after.
   */
  resume: z.object({ hub_epoch: Id.optional(), last_seq: Count }).optional(),
  /** How much work the device takes, so the hub sends no more than that from the first moment. */
  capacity: z.object(CapacityFields).optional(),
  /** What the connector runs: shown by the hub in `GET /v1/devices`. */
  runtime: z
    .object({
      version: z.string().max(64),
      job_types: z.array(z.string().max(64)).max(16),
      tools: z.array(Id).max(1_000).default([]),
      playbooks: z.array(Id).max(1_000).default([]),
      channels: z.array(z.string().max(256)).max(1_000).default([]),
    })
    .optional(),
  /** Optional features the device speaks (`channel_ack`); sent only when it wants one. */
  capabilities: Capabilities.optional(),
});

/**
 * How the hub answered a `resume`: `resumed` (everything after `last_seq` it still holds is
 * redelivered, nothing was lost), `expired` (`missed` requests waited past the hub's resume
 * window and were dropped) or `reset` (the hub restarted: what it held for the device is gone).
 */
export const ResumeStatus = z.enum(['resumed', 'expired', 'reset']);

/** Hub → connector, accepts the session and sets its parameters. */
export const ConnectAckMessage = defineMessage('connect_ack', {
  session_id: Id,
  /** How often the connector sends `heartbeat`. */
  heartbeat_interval_ms: z.number().int().min(1000).max(600_000),
  /** How long the connector waits for any inbound frame after a heartbeat. */
  heartbeat_timeout_ms: z.number().int().min(500).max(600_000),
  /** The hub's clock, for skew estimates. */
  server_time: z.number().int().nonnegative(),
  /** Largest frame the hub accepts. */
  max_frame_bytes: z.number().int().positive(),
  /** The answer to `connect.resume`; the device keeps `hub_epoch` for its next `connect`. */
  resume: z.object({ status: ResumeStatus, hub_epoch: Id, missed: Count.default(0) }).optional(),
  /** Of the features `connect.capabilities` announced, those the hub speaks; absent when none were announced. */
  capabilities: Capabilities.optional(),
});

// ─── in-band re-authentication ──────────────────────────────────────────────────────────

/** Connector → hub: a fresh token for the open session, before the current one expires. */
export const AuthRefreshMessage = defineMessage('auth_refresh', {
  token: z.string().min(1).max(8192),
});

/**
 * Hub → connector: the fresh token was accepted; the session now lives until `expires_at`.
 * A refused token is answered with `error{auth_failed, ref_id}` instead, and the session goes
 * on until its current token expires (then close 4002).
 */
export const AuthRefreshAckMessage = defineMessage('auth_refresh_ack', {
  expires_at: z.number().int().nonnegative(),
});

// ─── liveness ───────────────────────────────────────────────────────────────────────────

/** Connector → hub keep-alive. */
export const HeartbeatMessage = defineMessage('heartbeat', {
  seq: z.number().int().nonnegative(),
});

/** Hub → connector answer to `heartbeat`, echoing its `seq`. */
export const HeartbeatAckMessage = defineMessage('heartbeat_ack', {
  seq: z.number().int().nonnegative(),
  server_time: z.number().int().nonnegative(),
});

// ─── execution ──────────────────────────────────────────────────────────────────────────

export const JobType = z.enum(['playbook', 'tool', 'chain']);

const ExecutionContext = z.object({
  workspace_id: Id.optional(),
  metadata: Json.optional(),
});

const executionCommon = {
  request_id: Id,
  inputs: Json.default({}),
  execution_context: ExecutionContext.default({}),
  /** Per-request timeout; without it the device's default applies (300 s, src/execution/executor.ts). */
  timeout_ms: z.number().int().positive().max(86_400_000).optional(),
  /** Inbound sequence number when the hub delivers it reliably (`ack`, `connect.resume`). */
  seq: Seq.optional(),
};

/** One step of a chain: a tool or a playbook, whose output feeds the next step. */
export const ChainStep = z.discriminatedUnion('job_type', [
  z.object({ job_type: z.literal('tool'), tool_name: Id, inputs: Json.optional() }),
  z.object({ job_type: z.literal('playbook'), playbook_code: Id, inputs: Json.optional() }),
]);

/** Hub → connector: run a playbook, a tool or a chain. */
export const ExecutionRequestMessage = z.discriminatedUnion('job_type', [
  defineMessage('execution_request', {
    ...executionCommon,
    job_type: z.literal('playbook'),
    playbook_code: Id,
  }),
  defineMessage('execution_request', { ...executionCommon, job_type: z.literal('tool'), tool_name: Id }),
  defineMessage('execution_request', {
    ...executionCommon,
    job_type: z.literal('chain'),
    steps: z.array(ChainStep).min(1).max(100),
  }),
]);

export const ExecutionEventType = z.enum(['accepted', 'started', 'progress', 'completed', 'failed', 'cancelled', 'timed_out']);

/** Connector → hub: one step of an execution's lifecycle. */
export const ExecutionEventMessage = defineMessage('execution_event', {
  event_id: Id,
  request_id: Id,
  event_type: ExecutionEventType,
  data: Json.default({}),
  seq: Seq.optional(),
});

/** Hub → connector: stop an execution. A queued one ends at once; a running one has its signal aborted. */
export const ExecutionCancelMessage = defineMessage('execution_cancel', {
  request_id: Id,
  reason: z.string().max(1024).optional(),
  seq: Seq.optional(),
});

/**
 * Connector → hub: how busy the device is, sent after `connect_ack` and whenever it changes
 * from or to `saturated` (every slot running and the queue full). A hub holds further requests
 * while the device is saturated instead of sending them to be refused.
 */

export const CapacityMessage = defineMessage('capacity', CapacityFields);

/**
 * Either direction: every reliable message up to `seq` has been received and stored. The
 * sender may forget them; they will not be redelivered.
 */
export const AckMessage = defineMessage('ack', { seq: Count });

/**
 * Connector → hub: the reliable message `seq` was not taken, because the device cannot store it
 * now (`storage_unavailable`: its disk is full or failing). The hub puts that message back in
 * the device's queue, ahead of what was never sent, and sends nothing else but cancels until the
 * device announces room again with `capacity` (`saturated: false`). The device does not
 * acknowledge past `seq` until the message comes back, so a `nack` lost with its connection
 * costs nothing: the message is redelivered from the resume cursor instead.
 */
export const NackMessage = defineMessage('nack', { seq: Count, reason: z.enum(['storage_unavailable']) });

/** Connector → hub: what one finished execution cost, for metering. */
export const UsageReportMessage = defineMessage('usage_report', {
  /** Identifies the report in the hub's ledger: one report per execution, booked once. */
  report_id: Id.optional(),
  seq: Seq.optional(),
  request_id: Id,
  executor_device_id: Id,
  metrics: z.object({
    duration_ms: z.number().nonnegative(),
    token_usage: z
      .object({
        input: z.number().int().nonnegative().default(0),
        output: z.number().int().nonnegative().default(0),
      })
      .optional(),
    cost_estimate: z.number().nonnegative().optional(),
  }),
});

// ─── messaging ──────────────────────────────────────────────────────────────────────────

/** Hub → connector: a message from a cloud-connected chat channel (LINE, WhatsApp, …). */
export const MessagingEventMessage = defineMessage('messaging_event', {
  request_id: Id,
  seq: Seq.optional(),
  channel: z.string().min(1).max(64),
  event_type: z.string().min(1).max(64),
  message: z.object({ text: z.string().max(100_000) }),
  user_id: Id,
  reply_token: z.string().max(1024).optional(),
  channel_config_id: Id.optional(),
  workspace_id: Id.optional(),
});

export const MessagingReplyStatus = z.enum(['duplicate', 'ignored', 'error', 'processing', 'completed']);

/** Connector → hub: the answer to a `messaging_event`. */
export const MessagingReplyMessage = defineMessage('messaging_reply', {
  request_id: Id,
  seq: Seq.optional(),
  channel: z.string().min(1).max(64),
  reply_token: z.string().max(1024).optional(),
  channel_config_id: Id.optional(),
  result: z.object({
    status: MessagingReplyStatus,
    text: z.string().max(100_000).optional(),
    error: z.string().max(4096).optional(),
    /** Why a message was `ignored` or answered `duplicate`. */
    reason: z.string().max(1024).optional(),
  }),
});

// ─── channels ───────────────────────────────────────────────────────────────────────────

/** `extension` (one per tenant) or `task:<task id>`. */
export const ChannelName = z
  .string()
  .min(1)
  .max(256)
  .regex(/^(extension|task:[A-Za-z0-9._:-]{1,200})$/, 'a channel is `extension` or `task:<task id>`');

/** Connector → hub: join a channel, and recover what was missed since `recover.offset`. */
export const ChannelJoinMessage = defineMessage('channel_join', {
  channel: ChannelName,
  workspace_id: Id.optional(),
  /** The channel epoch and last offset the device saw; the hub replays what came after. */
  recover: z.object({ epoch: Id, offset: Count }).optional(),
});

/**
 * How a rejoin's recovery went: `none` (nothing asked), `recovered` (everything after the
 * offset follows), `lost` (the replay window or the channel epoch passed: reload state).
 */
export const ChannelRecovery = z.enum(['none', 'recovered', 'lost']);

/** Hub → connector: the join is accepted; replayed messages (if any) follow. */
export const ChannelJoinedMessage = defineMessage('channel_joined', {
  channel: ChannelName,
  /** Changes when the hub's channel state restarts; offsets of another epoch mean nothing. */
  epoch: Id,
  /** The channel's latest offset. */
  offset: Count,
  recovery: ChannelRecovery,
});

export const ChannelRefusal = z.enum(['unauthorized', 'unknown_channel']);

/** Hub → connector: the join is refused. */
export const ChannelRefusedMessage = defineMessage('channel_refused', {
  channel: ChannelName,
  reason: ChannelRefusal,
  message: z.string().max(1024),
});

/** Connector → hub: leave a channel. */
export const ChannelLeaveMessage = defineMessage('channel_leave', { channel: ChannelName });

/** Hub → connector: the leave is done. */
export const ChannelLeftMessage = defineMessage('channel_left', { channel: ChannelName });

/**
 * Either direction: a message on a joined channel. From the hub it carries the channel `offset`
 * (1, 2, …) the device recovers from. From a device it may carry `seq` (capability
 * `channel_ack`): a reliable message, which the hub answers with `channel_ack`, and which the
 * device sends again, with the same `id`, until it is acknowledged.
 */
export const ChannelMessageMessage = defineMessage('channel_message', {
  channel: ChannelName,
  event: z.string().min(1).max(128),
  payload: Json.default({}),
  offset: z.number().int().positive().optional(),
  /** A reliable message's sequence number: per device, from 1, across its channels. */
  seq: Seq.optional(),
});

/**
 * Hub → connector (capability `channel_ack`): every reliable message of this device on
 * `channel` up to `seq` was received, once; the device forgets them. A resend of one the hub
 * already took (the same `id`) is acknowledged again and not delivered twice. Reached through
 * `messageSchemas.channel_ack`: the package's named exports stay those of v1.
 */
const ChannelAckMessage = defineMessage('channel_ack', { channel: ChannelName, seq: Seq });

// ─── capability reload ──────────────────────────────────────────────────────────────────

/** Hub → connector: new capability packs were deployed; reload them. */
export const CapabilityReloadMessage = defineMessage('capability_reload', {
  reload_id: Id,
  packs: z.array(Id).max(1_000).default([]),
});

/** Connector → hub: how the reload went. */
export const CapabilityReloadResultMessage = defineMessage('capability_reload_result', {
  reload_id: Id,
  ok: z.boolean(),
  error: z.string().max(4096).optional(),
});

// ─── errors ─────────────────────────────────────────────────────────────────────────────

/** Codes carried by `error` frames. Documented in docs/protocol.md. */
export const ErrorCode = z.enum([
  'not_json',
  'invalid_envelope',
  'unknown_type',
  'schema_violation',
  'too_large',
  'unsupported_version',
  'not_connected',
  'auth_failed',
  'not_joined',
  'internal',
]);
export type ErrorCode = z.infer<typeof ErrorCode>;

/** Either direction: a frame was refused. `ref_id` names the offending message when known. */
export const ErrorMessage = defineMessage('error', {
  code: ErrorCode,
  message: z.string().max(4096),
  ref_id: MessageId.optional(),
  details: Json.optional(),
});

/** Every v1 message type and its schema. The codec dispatches on this table. */
export const messageSchemas = {
  connect: ConnectMessage,
  connect_ack: ConnectAckMessage,
  auth_refresh: AuthRefreshMessage,
  auth_refresh_ack: AuthRefreshAckMessage,
  heartbeat: HeartbeatMessage,
  heartbeat_ack: HeartbeatAckMessage,
  execution_request: ExecutionRequestMessage,
  execution_event: ExecutionEventMessage,
  execution_cancel: ExecutionCancelMessage,
  capacity: CapacityMessage,
  ack: AckMessage,
  nack: NackMessage,
  usage_report: UsageReportMessage,
  channel_join: ChannelJoinMessage,
  channel_joined: ChannelJoinedMessage,
  channel_refused: ChannelRefusedMessage,
  channel_leave: ChannelLeaveMessage,
  channel_left: ChannelLeftMessage,
  channel_message: ChannelMessageMessage,
  channel_ack: ChannelAckMessage,
  capability_reload: CapabilityReloadMessage,
  capability_reload_result: CapabilityReloadResultMessage,
  messaging_event: MessagingEventMessage,
  messaging_reply: MessagingReplyMessage,
  settings_subscribe: SettingsSubscribeMessage,
  settings_subscribed: SettingsSubscribedMessage,
  settings_patch: SettingsPatchMessage,
  settings_reported: SettingsReportedMessage,
  error: ErrorMessage,
} as const;

export type MessageSchemas = typeof messageSchemas;
export type MessageType = keyof MessageSchemas;
/** A decoded message of one type. */
export type MessageOf<T extends MessageType> = z.output<MessageSchemas[T]>;
/** Any decoded v1 message. */
export type Message = { [T in MessageType]: MessageOf<T> }[MessageType];
/** `Omit` applied to each member of a union (plain `Omit` keeps only the common keys). */
export type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/**
 * A message as a sender writes it: without the envelope fields the codec stamps. For a union
 * schema (`execution_request`) it stays a union, so `tool_name` is known on a tool job.
 */
export type Outbound<T extends MessageType = MessageType> = T extends MessageType
  ? DistributiveOmit<z.input<MessageSchemas[T]>, keyof Envelope> & { type: T; id?: string; ts?: number }
  : never;

/** Which side sends which type; the hub and connector refuse frames from the wrong side. */
export const direction: Record<MessageType, 'to_hub' | 'to_device' | 'both'> = {
  connect: 'to_hub',
  connect_ack: 'to_device',
  auth_refresh: 'to_hub',
  auth_refresh_ack: 'to_device',
  heartbeat: 'to_hub',
  heartbeat_ack: 'to_device',
  execution_request: 'to_device',
  execution_event: 'to_hub',
  execution_cancel: 'to_device',
  capacity: 'to_hub',
  ack: 'both',
  nack: 'to_hub',
  usage_report: 'to_hub',
  channel_join: 'to_hub',
  channel_joined: 'to_device',
  channel_refused: 'to_device',
  channel_leave: 'to_hub',
  channel_left: 'to_device',
  channel_message: 'both',
  channel_ack: 'to_device',
  capability_reload: 'to_device',
  capability_reload_result: 'to_hub',
  messaging_event: 'to_device',
  messaging_reply: 'to_hub',
  settings_subscribe: 'to_hub',
  settings_subscribed: 'to_device',
  settings_patch: 'to_device',
  settings_reported: 'to_hub',
  error: 'both',
};
