import type { z } from 'zod';
import type { JobType, MessageType, Outbound } from './messages.ts';

/*
 * One realistic example per message type, as a sender writes it (the codec stamps `v`, `id`
 * and `ts`). They are test fixtures and the source of the examples in docs/protocol.md, so
 * they use the protocol's vocabulary (docs/protocol.md) and plausible values. Every one must pass
 * `codec.encode` (test/protocol/codec.test.ts checks it).
 */

const DEVICE_ID = 'dev_7f3a9c2e41b8';
const TENANT_ID = 'tnt_acme';
const WORKSPACE_ID = 'ws_marketing_ops';
/** 2026-01-01T00:00:00Z: a fixed clock, so generated docs do not change on every run. */
const SERVER_TIME = 1_767_225_600_000;

/**
 * One `execution_request` per job type (`playbook`, `tool`, `chain`).
 *
 * @example
 * const encoded = createCodec().encode(executionRequestExamples.chain);
 * if (encoded.ok) hubSocket.send(encoded.value.frame);
 */
export const executionRequestExamples: {
  [J in z.infer<typeof JobType>]: Extract<Outbound<'execution_request'>, { job_type: J }>;
} = {
  playbook: {
    type: 'execution_request',
    request_id: 'req_01JGX2M8Q4TZ5V6B7N8P9R0S1A',
    job_type: 'playbook',
    playbook_code: 'weekly_campaign_report',
    inputs: { week: '2025-W52', channels: ['email', 'line'] },
    execution_context: { workspace_id: WORKSPACE_ID, metadata: { workspace_id: WORKSPACE_ID, triggered_by: 'schedule' } },
  },
  tool: {
    type: 'execution_request',
    request_id: 'req_01JGX2N3D7K9W2E4R6T8Y0U2I4',
    job_type: 'tool',
    tool_name: 'web_search',
    inputs: { query: 'competitor pricing changes December 2025', max_results: 5 },
    execution_context: { workspace_id: WORKSPACE_ID, metadata: { workspace_id: WORKSPACE_ID, user_id: 'usr_42' } },
    // The default timeout (`defaultTimeoutMs` in src/execution/executor.ts), written out.
    timeout_ms: 300_000,
    seq: 17,
  },
  chain: {
    type: 'execution_request',
    request_id: 'req_01JGX2P6H1J3K5L7M9N1B3V5C7',
    job_type: 'chain',
    steps: [
      { job_type: 'tool', tool_name: 'web_search', inputs: { query: 'LINE Official Account API rate limits' } },
      { job_type: 'playbook', playbook_code: 'summarize_findings', inputs: { style: 'bullet_points' } },
    ],
    execution_context: { workspace_id: WORKSPACE_ID },
    timeout_ms: 600_000,
  },
};

/**
 * A realistic example of every v1 message type, keyed by type.
 *
 * @example
 * const codec = createCodec({ newId: () => 'msg_0001', now: () => 1_767_225_600_000 });
 * for (const example of Object.values(messageExamples)) {
 *   const encoded = codec.encode(example);
 *   if (encoded.ok) console.log(encoded.value.frame);
 * }
 */
export const messageExamples: { [T in MessageType]: Outbound<T> } = {
  connect: {
    type: 'connect',
    device_id: DEVICE_ID,
    tenant_id: TENANT_ID,
    // A device JWT (ES256): header and claims only, the signature is a placeholder.
    token:
      'eyJhbGciOiJFUzI1NiIsImtpZCI6ImRldi0yMDI2LTAxIn0.eyJzdWIiOiJkZXZfN2YzYTljMmU0MWI4IiwidGVuIjoidG50X2FjbWUiLCJleHAiOjE3NjcyMjkyMDB9.c2lnbmF0dXJlLW9taXR0ZWQ',
    client: { name: 'cloudtether', version: '0.1.0' },
    resume: { hub_epoch: 'hub_01JGX2J1Z9Y8X7W6V5U4T3S2R1', last_seq: 17 },
    capacity: { running: 0, queued: 0, max_concurrency: 4, max_queue: 64, saturated: false },
    runtime: {
      version: '0.1.0',
      job_types: ['tool', 'playbook', 'chain'],
      tools: ['web_search'],
      playbooks: ['weekly_campaign_report', 'summarize_findings'],
      channels: ['extension', 'task:tsk_01JGX2S5T7U9W1Y3A5C7E9G1J3'],
    },
  },
  connect_ack: {
    type: 'connect_ack',
    session_id: 'sess_01JGX2K4A8C2E4G6J8L0N2Q4S6',
    heartbeat_interval_ms: 25_000,
    heartbeat_timeout_ms: 10_000,
    server_time: SERVER_TIME,
    max_frame_bytes: 1_048_576,
    resume: { status: 'resumed', hub_epoch: 'hub_01JGX2J1Z9Y8X7W6V5U4T3S2R1', missed: 0 },
  },
  auth_refresh: {
    type: 'auth_refresh',
    token:
      'eyJhbGciOiJFUzI1NiIsImtpZCI6ImRldi0yMDI2LTAxIn0.eyJzdWIiOiJkZXZfN2YzYTljMmU0MWI4IiwidGVuIjoidG50X2FjbWUiLCJleHAiOjE3NjcyMzAxMDB9.c2lnbmF0dXJlLW9taXR0ZWQ',
  },
  auth_refresh_ack: { type: 'auth_refresh_ack', expires_at: SERVER_TIME + 900_000 },
  heartbeat: { type: 'heartbeat', seq: 42 },
  heartbeat_ack: { type: 'heartbeat_ack', seq: 42, server_time: SERVER_TIME + 25_000 },
  execution_request: executionRequestExamples.tool,
  // As the executor sends it (src/execution/executor.ts `#end`): the event id is derived from the
  // request (`:end` for every terminal event), and `completed` carries what the handler returned
  // as `result`, beside `duration_ms`.
  execution_event: {
    type: 'execution_event',
    event_id: `${executionRequestExamples.tool.request_id}:end`,
    request_id: executionRequestExamples.tool.request_id,
    event_type: 'completed',
    seq: 311,
    data: {
      result: { results: [{ title: 'Pricing update, Dec 2025', url: 'https://example.com/pricing' }] },
      duration_ms: 1834,
    },
  },
  execution_cancel: {
    type: 'execution_cancel',
    request_id: executionRequestExamples.playbook.request_id,
    reason: 'cancelled by usr_42 from the dashboard',
    seq: 18,
  },
  capacity: { type: 'capacity', running: 4, queued: 64, max_concurrency: 4, max_queue: 64, saturated: true },
  ack: { type: 'ack', seq: 311 },
  nack: { type: 'nack', seq: 312, reason: 'storage_unavailable' },
  usage_report: {
    type: 'usage_report',
    report_id: `usage:${executionRequestExamples.tool.request_id}`,
    seq: 312,
    request_id: executionRequestExamples.tool.request_id,
    executor_device_id: DEVICE_ID,
    metrics: { duration_ms: 1834, token_usage: { input: 1260, output: 342 }, cost_estimate: 0.0041 },
  },
  channel_join: {
    type: 'channel_join',
    channel: 'task:tsk_01JGX2S5T7U9W1Y3A5C7E9G1J3',
    workspace_id: WORKSPACE_ID,
    recover: { epoch: 'ch_01JGX2T8V0X2Z4B6D8F0H2K4M6', offset: 41 },
  },
  channel_joined: {
    type: 'channel_joined',
    channel: 'task:tsk_01JGX2S5T7U9W1Y3A5C7E9G1J3',
    epoch: 'ch_01JGX2T8V0X2Z4B6D8F0H2K4M6',
    offset: 43,
    recovery: 'recovered',
  },
  channel_refused: {
    type: 'channel_refused',
    channel: 'task:tsk_01JGX2S5T7U9W1Y3A5C7E9G1J3',
    reason: 'unauthorized',
    message: "task 'tsk_01JGX2S5T7U9W1Y3A5C7E9G1J3' belongs to another tenant",
  },
  channel_leave: { type: 'channel_leave', channel: 'task:tsk_01JGX2S5T7U9W1Y3A5C7E9G1J3' },
  channel_left: { type: 'channel_left', channel: 'task:tsk_01JGX2S5T7U9W1Y3A5C7E9G1J3' },
  channel_message: {
    type: 'channel_message',
    channel: 'task:tsk_01JGX2S5T7U9W1Y3A5C7E9G1J3',
    event: 'approve',
    payload: { step_id: 'stp_7', approved_by: 'usr_42', comment: 'Go ahead with the LINE broadcast.' },
    offset: 42,
  },
  channel_ack: { type: 'channel_ack', channel: 'task:tsk_01JGX2S5T7U9W1Y3A5C7E9G1J3', seq: 12 },
  capability_reload: { type: 'capability_reload', reload_id: 'rld_01JGX2V1W3Y5A7C9E1G3J5L7N9', packs: ['marketing-pack@2.3.0'] },
  capability_reload_result: { type: 'capability_reload_result', reload_id: 'rld_01JGX2V1W3Y5A7C9E1G3J5L7N9', ok: true },
  messaging_event: {
    type: 'messaging_event',
    request_id: 'line_msg_18374619283746',
    channel: 'line',
    event_type: 'message',
    message: { text: 'What is on my calendar tomorrow?' },
    user_id: 'U4af4980629a1b2c3d4e5f60718293a4b',
    reply_token: 'nHuyWiB7yP5Zw52FIkcQobQuGDXCTA',
    channel_config_id: 'chcfg_line_support',
    workspace_id: WORKSPACE_ID,
  },
  messaging_reply: {
    type: 'messaging_reply',
    request_id: 'line_msg_18374619283746',
    channel: 'line',
    reply_token: 'nHuyWiB7yP5Zw52FIkcQobQuGDXCTA',
    channel_config_id: 'chcfg_line_support',
    result: { status: 'completed', text: 'Tomorrow: 10:00 campaign review, 14:30 call with the LINE partner team.' },
  },
  settings_subscribe: { type: 'settings_subscribe' },
  settings_subscribed: { type: 'settings_subscribed', epoch: 'set_01JGX2W4Y6A8C0E2G4J6L8N0Q2', org_version: 12, user_version: 4 },
  settings_patch: {
    type: 'settings_patch',
    epoch: 'set_01JGX2W4Y6A8C0E2G4J6L8N0Q2',
    document: 'org',
    version: 13,
    patch: { features: { task_sharing: false }, max_concurrent_tasks: 2 },
  },
  settings_reported: {
    type: 'settings_reported',
    epoch: 'set_01JGX2W4Y6A8C0E2G4J6L8N0Q2',
    org_version: 13,
    user_version: 4,
    pending_edits: 0,
    settings: { theme: 'dark', max_concurrent_tasks: 2, features: { task_sharing: false } },
  },
  error: {
    type: 'error',
    code: 'schema_violation',
    message: 'usage_report: metrics.duration_ms: Invalid input: expected number, received string',
    ref_id: 'msg_01JGX2R2W4E6R8T0Y2U4I6O8P0',
    details: { path: ['metrics', 'duration_ms'] },
  },
};
