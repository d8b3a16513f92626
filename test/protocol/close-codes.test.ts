import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import {
  CloseCode,
  type CloseCodeName,
  closeCodeName,
  closeCodeTable,
  type CloseDisposition,
  closeDisposition,
} from '../../src/protocol/close-codes.ts';

/** What the connector does on each code, as documented in close-codes.ts. */
const expectedDisposition: Record<CloseCodeName, CloseDisposition> = {
  normal: 'retry',
  goingAway: 'retry_spread',
  policyViolation: 'retry',
  tooLarge: 'retry',
  internalError: 'retry',
  serverRestart: 'retry_spread',
  tryAgainLater: 'retry_spread',
  authFailed: 'reauth',
  tokenExpired: 'reauth',
  replaced: 'fatal',
  unsupportedVersion: 'fatal',
  handshakeTimeout: 'retry',
  heartbeatTimeout: 'retry',
  revoked: 'fatal',
};

const entries = Object.entries(CloseCode) as Array<[CloseCodeName, number]>;
const snake = (name: string) => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

describe('close code table', () => {
  it.each(entries)('%s (%i) has its documented disposition', (name, code) => {
    expect(closeDisposition(code)).toBe(expectedDisposition[name]);
  });

  it('lists every CloseCode exactly once, and nothing else', () => {
    const tableCodes = closeCodeTable.map((row) => row.code);
    for (const [, code] of entries) expect(tableCodes.filter((c) => c === code)).toHaveLength(1);
    expect(tableCodes.sort()).toEqual(entries.map(([, code]) => code).sort());
  });

  it('names each code after its CloseCode key, in snake case', () => {
    for (const [name, code] of entries) expect(closeCodeName(code)).toBe(snake(name));
  });

  it('has unique names and a meaning for every row', () => {
    expect(new Set(closeCodeTable.map((row) => row.name)).size).toBe(closeCodeTable.length);
    for (const row of closeCodeTable) expect(row.meaning.length).toBeGreaterThan(10);
  });

  it('keeps fatal for revocation, replacement and version; never for a restart or overload', () => {
    const fatal = closeCodeTable.filter((row) => row.disposition === 'fatal').map((row) => row.code);
    expect(fatal.sort()).toEqual([4003, 4004, 4007]);
  });

  it('sends a refused or expired credential back to the auth machine instead of giving up', () => {
    const reauth = closeCodeTable.filter((row) => row.disposition === 'reauth').map((row) => row.code);
    expect(reauth.sort()).toEqual([4001, 4002]);
  });

  it('names codes outside the table', () => {
    expect(closeCodeName(1006)).toBe('connection_lost'); // no close frame at all
    expect(closeCodeName(1005)).toBe('no_status');
    expect(closeCodeName(4999)).toBe('code_4999');
    expect(closeCodeName(1014)).toBe('code_1014');
  });

  it.each([1005, 1006, 1014, 3000, 4000, 4999, 0])('retries on unknown code %i', (code) => {
    expect(closeDisposition(code)).toBe('retry');
  });
});

describe('every code can be sent by ws', () => {
  const sendable = (code: number) =>
    (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);

  it.each(entries)('%s (%i) is in a range ws sends', (_name, code) => {
    expect(sendable(code)).toBe(true);
  });

  let server: WebSocketServer;
  let url: string;
  beforeAll(async () => {
    server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => server.once('listening', resolve));
    url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    for (const client of server.clients) client.terminate();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  /** Closes a real connection from the server with `code`; resolves with what the client saw. */
  function closeWith(code: number, reason: string): Promise<{ code: number; reason: string }> {
    return new Promise((resolve, reject) => {
      server.once('connection', (socket) => {
        try {
          socket.close(code, reason);
        } catch (error) {
          socket.terminate();
          reject(error as Error);
        }
      });
      const client = new WebSocket(url);
      client.on('error', reject);
      client.on('close', (seen: number, why: Buffer) => resolve({ code: seen, reason: why.toString() }));
    });
  }

  it('delivers each code and name over a real socket', async () => {
    for (const row of closeCodeTable) {
      await expect(closeWith(row.code, row.name)).resolves.toEqual({ code: row.code, reason: row.name });
    }
  });

  it('fails for a code ws will not send (1006), so the check above can fail', async () => {
    await expect(closeWith(1006, 'abnormal')).rejects.toThrow(TypeError);
  });
});
