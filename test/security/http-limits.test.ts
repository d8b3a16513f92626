import { connect, type Socket } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { resolveHubOptions } from '../../src/hub/core/options.ts';
import { api, asDevice, keyOf } from '../hub/api-helpers.ts';
import { envelope, startHub, TestClient, TOKEN } from '../hub/helpers.ts';
import { ENROLL_SECRET, startTokenHub } from '../hub/token-helpers.ts';

const HEADERS_TIMEOUT_MS = 300;
const REQUEST_TIMEOUT_MS = 600;
const slowHub = () => startHub({ staticToken: TOKEN, headersTimeoutMs: HEADERS_TIMEOUT_MS, requestTimeoutMs: REQUEST_TIMEOUT_MS });

/** A raw TCP client of the hub: what it wrote is up to the test, what it got is kept. */
function rawClient(port: number): { socket: Socket; received: () => string; closed: Promise<number>; answered: Promise<string> } {
  const socket = connect(port, '127.0.0.1');
  const started = Date.now();
  let data = '';
  let answer: (text: string) => void = () => {};
  const answered = new Promise<string>((resolve) => (answer = resolve));
  socket.on('data', (chunk: Buffer) => {
    data += chunk.toString('latin1');
    // The status line and headers are in: enough to know the hub's answer.
    if (data.includes('\r\n\r\n')) answer(data);
  });
  socket.on('error', () => {});
  const closed = new Promise<number>((resolve) => socket.on('close', () => resolve(Date.now() - started)));
  onTestFinished(() => void socket.destroy());
  return { socket, received: () => data, closed, answered };
}

/** Writes `line()` every few milliseconds until the socket closes: a client that is slow, not silent. */
function trickle(socket: Socket, line: () => string): void {
  const timer = setInterval(() => socket.write(line()), 25);
  socket.on('close', () => clearInterval(timer));
}

describe('slow clients (slowloris)', () => {
  it('answers 408 and closes a request whose headers trickle in past headersTimeoutMs, a WebSocket upgrade too', async () => {
    const { port } = await slowHub();
    const plain = rawClient(port);
    plain.socket.write('GET /v1/whoami HTTP/1.1\r\nhost: 127.0.0.1\r\n');
    trickle(plain.socket, () => 'x-slow: 1\r\n');
    const upgrade = rawClient(port);
    upgrade.socket.write('GET /v1/connect HTTP/1.1\r\nhost: 127.0.0.1\r\nupgrade: websocket\r\nconnection: Upgrade\r\n');
    trickle(upgrade.socket, () => 'x-slow: 1\r\n');

    for (const client of [plain, upgrade]) {
      expect(await client.closed).toBeGreaterThanOrEqual(HEADERS_TIMEOUT_MS - 10);
      expect(client.received()).toMatch(/^HTTP\/1\.1 408 /);
    }
  });

  it('answers 408 and closes a request whose body trickles in past requestTimeoutMs', async () => {
    const { port } = await slowHub();
    const client = rawClient(port);
    // An operators' route that reads its body (no admin token on this hub).
    client.socket.write(
      'POST /v1/devices/device-1/executions?tenant_id=tenant-1 HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{',
    );
    trickle(client.socket, () => ' ');

    expect(await client.closed).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 10);
    expect(client.received()).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('leaves alone what only looks slow: a device session, and an answer that waits for the device', async () => {
    const { url, port } = await slowHub();
    const { client: device } = await TestClient.connect(url);
    const reply = api(
      port,
      'POST',
      '/v1/devices/device-1/messages?tenant_id=tenant-1&wait=1',
      {},
      { channel: 'line', event_type: 'message', message: { text: 'hi' }, user_id: 'U1' },
    );
    const event = await device.next();
    expect(event).toMatchObject({ type: 'messaging_event', request_id: expect.any(String) });

    // A request that began after both is cut off at its request timeout: both are older by then.
    const slow = rawClient(port);
    slow.socket.write('POST /v1/devices/device-1/executions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 100000\r\n\r\n{');
    trickle(slow.socket, () => ' ');
    expect(await slow.closed).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 10);

    const seq = device.heartbeat();
    expect(await device.next()).toMatchObject({ type: 'heartbeat_ack', seq });
    device.send(
      envelope('messaging_reply', {
        seq: 1,
        request_id: event.request_id,
        channel: 'line',
        result: { status: 'completed', text: 'hello' },
      }),
    );
    expect(await reply).toMatchObject({ status: 200, body: { reply: { status: 'completed', text: 'hello' } } });
  });

  it('defaults to 10 s for headers and 30 s for a whole request, and refuses a headers timeout longer than the request timeout', () => {
    expect(resolveHubOptions({ staticToken: TOKEN })).toMatchObject({ headersTimeoutMs: 10_000, requestTimeoutMs: 30_000 });
    expect(() => resolveHubOptions({ staticToken: TOKEN, headersTimeoutMs: 2_000, requestTimeoutMs: 1_000 })).toThrow(/headersTimeoutMs/);
  });
});

describe('oversized HTTP bodies', () => {
  const HUGE = 100 * 1024 * 1024;

  /** Declares a body of 100 MiB, sends `sent` bytes of it, and resolves with the hub's answer, which must come without the rest. */
  async function declaredHuge(port: number, method: string, path: string, headers: Record<string, string>, sent: number): Promise<string> {
    const client = rawClient(port);
    const head = [
      `${method} ${path} HTTP/1.1`,
      'host: 127.0.0.1',
      'content-type: application/json',
      `content-length: ${HUGE}`,
      ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    ];
    client.socket.write(`${head.join('\r\n')}\r\n\r\n{"pad":"${'x'.repeat(sent)}`);
    const answer = await client.answered;
    client.socket.destroy();
    return answer.split('\r\n', 1)[0]!;
  }

  it('answers the REST API and the settings routes 413 from the declared length, before the body is sent', async () => {
    const { hub, port } = await startHub();
    const key = keyOf(hub, 'tenant-1');
    const asKey = { authorization: `Bearer ${key.secret}` };
    expect(await declaredHuge(port, 'POST', '/v1/api-keys', asKey, 1024)).toBe('HTTP/1.1 413 Payload Too Large');
    expect(await declaredHuge(port, 'POST', '/v1/shares', asKey, 1024)).toBe('HTTP/1.1 413 Payload Too Large');
    expect(await declaredHuge(port, 'POST', '/v1/telemetry', asKey, 1024)).toBe('HTTP/1.1 413 Payload Too Large');
    expect(await declaredHuge(port, 'PATCH', '/v1/settings/user', asDevice(), 1024)).toBe('HTTP/1.1 413 Payload Too Large');
  });

  it('answers the token, OAuth and operators’ routes 400 once they have read past their limit, without the rest', async () => {
    const { port } = await startTokenHub();
    expect(await declaredHuge(port, 'POST', '/v1/device-token', {}, 17 * 1024)).toBe('HTTP/1.1 400 Bad Request');
    expect(await declaredHuge(port, 'POST', '/v1/oauth/token', {}, 17 * 1024)).toBe('HTTP/1.1 400 Bad Request');
    expect(await declaredHuge(port, 'POST', '/v1/oauth/device_authorization', {}, 17 * 1024)).toBe('HTTP/1.1 400 Bad Request');
    // Operators' routes take up to 1 MiB (an execution's inputs).
    expect(await declaredHuge(port, 'POST', '/v1/devices/device-1/executions?tenant_id=tenant-1', {}, 1024 * 1024 + 16)).toBe(
      'HTTP/1.1 400 Bad Request',
    );
    // The hub is none the worse.
    const token = await api(
      port,
      'POST',
      '/v1/device-token',
      {},
      { device_id: 'device-1', tenant_id: 'tenant-1', credential: ENROLL_SECRET },
    );
    expect(token.status).toBe(200);
  });
});
