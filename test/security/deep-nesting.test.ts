import { describe, expect, it } from 'vitest';
import { MAX_JSON_DEPTH } from '../../src/protocol/envelope.ts';
import { api } from '../hub/api-helpers.ts';
import { startHub, TestClient } from '../hub/helpers.ts';

/** A frame of `type` whose `field` nests `levels` objects: built as text, JSON.stringify could not make it. */
function deepFrame(id: string, type: string, fields: string, field: string, levels: number): string {
  return `{"v":1,"id":"${id}","type":"${type}","ts":0,${fields},"${field}":${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}}`;
}

describe('deeply nested frames (regression)', () => {
  // Before the codec bounded nesting, a device's 10,000-level `data` was stored with its own
  // execution; the next copy of it (hub.execution(), GET /v1/executions/{id}) overflowed the stack,
  // and in the HTTP handler that was an uncaught exception: the whole hub went down.
  it("refuses them as schema_violation, so an execution's record stays readable and the hub up", async () => {
    const { hub, url, port } = await startHub();
    const { client } = await TestClient.connect(url);
    hub.execute('device-1', { request_id: 'req-deep', job_type: 'tool', tool_name: 'x' }, { tenantId: 'tenant-1' });
    expect(await client.next()).toMatchObject({ type: 'execution_request', request_id: 'req-deep' });

    const cases: Array<[id: string, frame: string]> = [
      [
        'deep-event',
        deepFrame('deep-event', 'execution_event', '"event_id":"e1","request_id":"req-deep","event_type":"progress"', 'data', 10_000),
      ],
      [
        'deep-report',
        deepFrame('deep-report', 'settings_reported', '"epoch":"x","org_version":0,"user_version":0,"pending_edits":0', 'settings', 10_000),
      ],
      // One level over the bound is enough.
      ['deep-channel', deepFrame('deep-channel', 'channel_message', '"channel":"extension","event":"register"', 'payload', MAX_JSON_DEPTH)],
    ];
    for (const [id, frame] of cases) {
      client.send(frame);
      expect(await client.next()).toMatchObject({ type: 'error', code: 'schema_violation', ref_id: id });
    }

    expect(hub.execution('req-deep')).toMatchObject({ status: 'delivered', events: [] });
    expect(await api(port, 'GET', '/v1/executions/req-deep')).toMatchObject({ status: 200, body: { request_id: 'req-deep' } });
    const seq = client.heartbeat();
    expect(await client.next()).toMatchObject({ type: 'heartbeat_ack', seq });
  });
});
