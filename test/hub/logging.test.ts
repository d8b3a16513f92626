import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log/logger.ts';
import { connectFrame, envelope, startHub, TestClient, TOKEN } from './helpers.ts';
import { captureLog, connectWith, ENROLL_SECRET, postToken, startTokenHub } from './token-helpers.ts';

describe('hub logging', () => {
  it('never writes a token, accepted, refused or in a bad frame', async () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'trace', destination: { write: (line: string) => lines.push(line) } });
    const wrong = 'wrong-token-5b2f80';
    const { url, hub } = await startHub({ staticToken: TOKEN, logger });

    const { client } = await TestClient.connect(url, { device_id: 'd1' });
    client.send(envelope('connect', { device_id: 'd1', tenant_id: 'tenant-1', token: TOKEN }));
    client.send({ ...connectFrame(), token: 42, leaked: TOKEN });
    client.send(`{"token":"${TOKEN}"`);
    await client.next();
    await client.next();
    await client.next();

    const refused = await TestClient.open(url);
    refused.send(connectFrame({ token: wrong }));
    await refused.closed;
    await hub.close();

    const output = lines.join('');
    // The hub did log these sessions, so the absence below means something.
    expect(output).toContain('session opened');
    expect(output).toContain('authentication failed');
    expect(output).toContain('bad frame');
    expect(output).not.toContain(TOKEN);
    expect(output).not.toContain(wrong);
  });

  it("adds no binding of its own, so a caller's component appears once per line", async () => {
    const lines: string[] = [];
    const root = createLogger({ level: 'info', destination: { write: (line: string) => lines.push(line) } });
    const { url, hub } = await startHub({ staticToken: TOKEN, logger: root.child({ component: 'hub' }) });
    await TestClient.connect(url);
    await hub.close();

    expect(lines.length).toBeGreaterThanOrEqual(3);
    for (const line of lines) expect(line.match(/"component":"hub"/g)).toHaveLength(1);
  });

  it('names the session on its lines: the remote address before authentication, its device and session id after', async () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'info', destination: { write: (line: string) => lines.push(line) } });
    const { url, hub } = await startHub({ staticToken: TOKEN, logger });
    const refused = await TestClient.open(url);
    refused.send(connectFrame({ token: 'wrong' }));
    await refused.closed;
    await TestClient.connect(url, { device_id: 'd-named' });
    await hub.close();

    const parsed = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const failed = parsed.find((l) => l.msg === 'authentication failed');
    expect(failed).toMatchObject({ remote: '127.0.0.1' });
    const opened = parsed.find((l) => l.msg === 'session opened');
    expect(opened).toMatchObject({ remote: '127.0.0.1', device_id: 'd-named', session_id: expect.any(String) });
    // The session's later lines carry the same names.
    const closed = parsed.find((l) => l.msg === 'socket closed' && l.device_id === 'd-named');
    expect(closed).toMatchObject({ session_id: opened!.session_id });
  });

  it('does not log the message of an authenticate error, which may quote the token', async () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'trace', destination: { write: (line: string) => lines.push(line) } });
    const { url } = await startHub({
      logger,
      authenticate: (token) => {
        throw new Error(`token ${token} is malformed`);
      },
    });
    const client = await TestClient.open(url);
    client.send(connectFrame());
    await client.closed;

    const output = lines.join('');
    expect(output).toContain('authenticate threw');
    expect(output).not.toContain(TOKEN);
  });

  it('never writes a device credential or a hub token, issued, used, refreshed or refused', async () => {
    const log = captureLog();
    const { hub, url, port } = await startTokenHub({ logger: log.logger });
    const who = { device_id: 'device-1', tenant_id: 'tenant-1' };
    const wrongCredential = 'wrong-credential-0c9d';
    const issued = await postToken(port, { ...who, credential: ENROLL_SECRET });
    const refreshed = await postToken(port, { ...who, credential: ENROLL_SECRET });
    const otherDevice = await postToken(port, { ...who, device_id: 'device-7', credential: ENROLL_SECRET });
    await postToken(port, { ...who, credential: wrongCredential });
    const tokens = [issued, refreshed, otherDevice].map(({ body }) => body.access_token as string);

    const { client } = await TestClient.connect(url, { token: tokens[0] });
    client.send(envelope('auth_refresh', { token: tokens[1] }));
    await client.next();
    client.send(envelope('auth_refresh', { token: tokens[2] }));
    await client.next();
    await connectWith(url, tokens[2]!);
    const forged = `${tokens[0]!.split('.').slice(0, 2).join('.')}.${tokens[1]!.split('.')[2]}`;
    await connectWith(url, forged);
    await hub.close();

    const output = log.output();
    for (const line of [
      'device token issued',
      'device token refused',
      'session opened',
      'token refreshed',
      'token refresh refused',
      'authentication failed',
    ]) {
      expect(output).toContain(line);
    }
    expect(output).not.toContain(ENROLL_SECRET);
    expect(output).not.toContain(wrongCredential);
    for (const token of tokens) {
      // Not the token, nor its signature or claims segment on their own.
      for (const part of token.split('.').slice(1)) expect(output).not.toContain(part);
    }
  });
});
