import { describe, expect, it } from 'vitest';
import { HubError } from '../../../src/hub/index.ts';
import { nextEvent, startHub, TestClient } from '../helpers.ts';

const request = (id: string) => ({ type: 'execution_request', request_id: id, job_type: 'tool', tool_name: 'echo' }) as const;

describe('hub sessions', () => {
  it('replaces an older session of the same device with 4003, never listing zero in between', async () => {
    const { hub, url } = await startHub();
    const { client: old, ack: oldAck } = await TestClient.connect(url, { device_id: 'd1', tenant_id: 't1' });
    const listedAtClose: number[] = [];
    const closed = nextEvent(hub, 'session_close');
    hub.on('session_close', () => listedAtClose.push(hub.devices().length));

    const { ack } = await TestClient.connect(url, { device_id: 'd1', tenant_id: 't1' });

    expect(await old.closed).toEqual({ code: 4003, reason: 'replaced' });
    const [info, code] = await closed;
    expect([info.session_id, code]).toEqual([oldAck.session_id, 4003]);
    expect(listedAtClose).toEqual([1]);
    expect(hub.devices().map((d) => d.session_id)).toEqual([ack.session_id]);
    expect(ack.session_id).not.toBe(oldAck.session_id);
  });

  it('keeps the same device id in two tenants apart', async () => {
    const { hub, url } = await startHub();
    const { client: a } = await TestClient.connect(url, { device_id: 'd1', tenant_id: 'acme' });
    const { client: b } = await TestClient.connect(url, { device_id: 'd1', tenant_id: 'globex' });
    expect(hub.devices()).toHaveLength(2);

    const toB = hub.dispatch('d1', request('for-globex'), { tenantId: 'globex' });
    const toA = hub.dispatch('d1', request('for-acme'), { tenantId: 'acme' });

    expect(await b.next()).toMatchObject({ id: toB, type: 'execution_request', request_id: 'for-globex' });
    // a's first frame is its own request: globex's never reached it.
    expect(await a.next()).toMatchObject({ id: toA, request_id: 'for-acme' });
    expect(() => hub.dispatch('d1', request('r'))).toThrow(expect.objectContaining({ code: 'ambiguous_device' }));
    expect(() => hub.dispatch('d1', request('r'), { tenantId: 'initech' })).toThrow(expect.objectContaining({ code: 'not_connected' }));
  });

  it('dispatches without tenantId when the device id is unambiguous, with defaults applied', async () => {
    const { hub, url } = await startHub();
    const { client } = await TestClient.connect(url, { device_id: 'solo' });
    const id = hub.dispatch('solo', request('r1'));

    expect(await client.next()).toMatchObject({ v: 1, id, request_id: 'r1', inputs: {}, execution_context: {} });
  });

  it('throws a typed HubError for an unknown device or an invalid message', async () => {
    const { hub, url } = await startHub();
    await TestClient.connect(url, { device_id: 'd1' });

    const unknown = (() => {
      try {
        hub.dispatch('ghost', request('r'));
      } catch (error) {
        return error;
      }
    })();
    expect(unknown).toBeInstanceOf(HubError);
    expect(unknown).toMatchObject({ code: 'not_connected' });
    // A tool request without tool_name fails the schema.
    expect(() => hub.dispatch('d1', { type: 'execution_request', request_id: 'r', job_type: 'tool' } as never)).toThrow(
      expect.objectContaining({ name: 'HubError', code: 'invalid_message', message: expect.stringContaining('tool_name') }),
    );
    // Devices send heartbeats; the hub sends heartbeat_ack itself.
    for (const type of ['heartbeat', 'heartbeat_ack', 'connect_ack']) {
      expect(() => hub.dispatch('d1', { type, seq: 1 } as never)).toThrow(expect.objectContaining({ code: 'invalid_message' }));
    }
  });

  it('dropDevice destroys the socket without a close frame', async () => {
    const { hub, url } = await startHub();
    const { client } = await TestClient.connect(url, { device_id: 'd1' });
    const closed = nextEvent(hub, 'session_close');

    expect(hub.faults.dropDevice('nobody')).toBe(false);
    expect(hub.faults.dropDevice('d1')).toBe(true);
    expect((await client.closed).code).toBe(1006);
    expect((await closed)[1]).toBe(1006);
    expect(hub.devices()).toEqual([]);
  });
});
