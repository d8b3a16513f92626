import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log/logger.ts';
import { connectFrame, envelope, startHub, TestClient, TOKEN } from './helpers.ts';

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
});
