import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createHub } from '../../src/hub/index.ts';
import { startHub, TestClient, TOKEN } from './helpers.ts';

describe('hub lifecycle', () => {
  it('listens on loopback and reports the device URL', async () => {
    const { url, port } = await startHub();
    expect(port).toBeGreaterThan(0);
    expect(url).toBe(`ws://127.0.0.1:${port}/v1/connect`);
  });

  it('restart closes sessions with 1012 and listens again on the same port', async () => {
    const { hub, url, port } = await startHub();
    const { client: first } = await TestClient.connect(url, { device_id: 'd1' });
    const { client: second } = await TestClient.connect(url, { device_id: 'd2' });

    await hub.restart();

    expect(await first.closed).toEqual({ code: 1012, reason: 'server_restart' });
    expect((await second.closed).code).toBe(1012);
    expect(hub.devices()).toEqual([]);
    const { ack } = await TestClient.connect(url, { device_id: 'd1' });
    expect(hub.devices().map((d) => d.session_id)).toEqual([ack.session_id]);
    expect(url).toContain(`:${port}/`);
  });

  it('restart stays down for downMs on the hub clock', async () => {
    const { hub, url } = await startHub();
    const started = Date.now();
    await hub.restart({ downMs: 150 });

    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    await TestClient.connect(url);
  });

  it('close is idempotent and closes sessions with 1001', async () => {
    const { hub, url } = await startHub();
    const { client } = await TestClient.connect(url);

    const closing = hub.close();
    expect(hub.close()).toBe(closing);
    await closing;
    expect(await client.closed).toEqual({ code: 1001, reason: 'going_away' });
    await hub.close();

    const refused = new WebSocket(url);
    await expect(new Promise((_, reject) => refused.once('error', reject))).rejects.toThrow(/ECONNREFUSED/);
    await expect(hub.listen()).rejects.toMatchObject({ code: 'invalid_state' });
    await expect(hub.restart()).rejects.toMatchObject({ code: 'invalid_state' });
  });

  it('close does not wait forever for a device that never answers the close frame', async () => {
    const { hub, url } = await startHub();
    const stuck = new WebSocket(url);
    await new Promise((resolve) => stuck.once('open', resolve));
    stuck.on('error', () => {});
    // A paused socket reads nothing, so it never echoes the hub's close frame.
    stuck.pause();

    const started = Date.now();
    await hub.close();
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(1_900);
    expect(took).toBeLessThan(5_000);
    stuck.terminate();
  });

  it('close on a hub that never listened resolves', async () => {
    const hub = createHub({ staticToken: TOKEN });
    await expect(hub.close()).resolves.toBeUndefined();
  });

  it('rejects invalid options with a HubError that never echoes the token', () => {
    expect(() => createHub({})).toThrow(expect.objectContaining({ code: 'invalid_options' }));
    expect(() => createHub({})).toThrow(/one of authenticate, staticToken and tokens/);
    expect(() => createHub({ staticToken: TOKEN, authenticate: () => true })).toThrow(/not both/);
    expect(() => createHub({ tokens: {} })).not.toThrow();
    expect(() => createHub({ staticToken: TOKEN, tokens: { lifetimeMs: 500 } })).toThrow(/tokens\.lifetimeMs/);
    let message = '';
    try {
      createHub({ staticToken: TOKEN, heartbeatIntervalMs: 10 });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('heartbeatIntervalMs');
    expect(message).not.toContain(TOKEN);
  });
});

describe('hub restart that cannot bind again', () => {
  it('rejects with the bind error and falls back to idle, so listen() can be tried again', async () => {
    // The hub's clock holds the restart's down time until the test has taken the port.
    let resumeRestart: (() => void) | undefined;
    const hub = createHub({
      staticToken: TOKEN,
      clock: {
        now: Date.now,
        setTimeout: (fn, ms) => (ms === 5_000 ? void (resumeRestart = fn) : setTimeout(fn, ms)),
        clearTimeout: (id) => clearTimeout(id as NodeJS.Timeout),
      },
    });
    const { port } = await hub.listen({ port: 0, host: '127.0.0.1' });
    const restarting = hub.restart({ downMs: 5_000 });
    const { createServer } = await import('node:net');
    const squatter = createServer();
    while (!resumeRestart) await new Promise((resolve) => setImmediate(resolve)); // the hub is down
    await new Promise<void>((resolve) => squatter.listen(port, '127.0.0.1', resolve));
    resumeRestart();
    await expect(restarting).rejects.toMatchObject({ code: 'EADDRINUSE' });
    await new Promise<void>((resolve) => squatter.close(() => resolve()));
    const again = await hub.listen({ port, host: '127.0.0.1' });
    expect(again.port).toBe(port);
    await hub.close();
  });
});
