import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, type JWTPayload, SignJWT } from 'jose';
import { createLogger, type Logger } from '../../src/log/logger.ts';
import type { Hub, HubOptions, HubTokenOptions } from '../../src/hub/index.ts';
import { connectFrame, type Closed, type Frame, ManualClock, startHub, TestClient } from './helpers.ts';

/** An enrollment secret of tenant-1: any device of the tenant may use it. */
export const ENROLL_SECRET = 'enroll-4b7e91-secret';
/** A secret bound to device-2 of tenant-1. */
export const DEVICE_SECRET = 'device2-a83f0c-secret';
export const LIFETIME_MS = 2_000;
export const LEEWAY_MS = 1_000;

type KeyPair = Awaited<ReturnType<typeof generateKeyPair>>;

/**
 * Starts a token-issuing hub on a manual clock (2 s tokens, 1 s leeway, heartbeats far off so
 * only expiry closes sessions). Its key pairs are recorded, so tests can sign with its real key.
 */
export async function startTokenHub(options: Omit<HubOptions, 'tokens'> & { tokens?: HubTokenOptions } = {}) {
  const clock = new ManualClock();
  const pairs: KeyPair[] = [];
  const started = await startHub({
    clock,
    heartbeatIntervalMs: 600_000,
    heartbeatTimeoutMs: 600_000,
    ...options,
    tokens: {
      lifetimeMs: LIFETIME_MS,
      leewayMs: LEEWAY_MS,
      deviceCredentials: [
        { tenant_id: 'tenant-1', secret: ENROLL_SECRET },
        { tenant_id: 'tenant-1', device_id: 'device-2', secret: DEVICE_SECRET },
      ],
      generateKeyPair: async () => {
        const pair = await generateKeyPair('ES256');
        pairs.push(pair);
        return pair;
      },
      ...options.tokens,
    },
  });
  return { ...started, clock, pairs };
}

/** Claims a hub token for device-1 of tenant-1 would carry at `nowMs`, with `overrides`. */
export function claims(nowMs: number, overrides: JWTPayload & Record<string, unknown> = {}): JWTPayload {
  const iat = Math.floor(nowMs / 1000);
  return {
    iss: 'cloudtether-hub',
    aud: 'cloudtether',
    sub: 'device-1',
    tenant: 'tenant-1',
    kind: 'device',
    iat,
    nbf: iat,
    exp: iat + LIFETIME_MS / 1000,
    jti: randomUUID(),
    ...overrides,
  };
}

/** Signs `payload` with the hub's newest key and its kid: a token only the hub's checks can refuse. */
export async function signAsHub(hub: Hub, pairs: KeyPair[], payload: JWTPayload): Promise<string> {
  // jwks() makes the hub's first key if it has none yet.
  const { keys } = await hub.jwks();
  const pair = pairs.at(-1);
  if (!pair) throw new Error('the hub made no key through the recording generateKeyPair');
  const { x } = await exportJWK(pair.publicKey);
  const kid = keys.find((key) => key.x === x)?.kid;
  return new SignJWT(payload).setProtectedHeader({ alg: 'ES256', kid }).sign(pair.privateKey);
}

/** Sends `connect` with `token`; resolves with the hub's answer and the close. */
export async function connectWith(
  url: string,
  token: string,
  who: { device_id?: string; tenant_id?: string } = {},
): Promise<{ reply: Frame; closed: Closed; connectId: unknown }> {
  const client = await TestClient.open(url);
  const connect = connectFrame({ ...who, token });
  client.send(connect);
  const reply = await client.next();
  return { reply, closed: await client.closed, connectId: connect.id };
}

/** POSTs a device-token request; `body` is sent as is when it is a string. */
export async function postToken(port: number, body: unknown) {
  const response = await fetch(`http://127.0.0.1:${port}/v1/device-token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, unknown> };
}

/** A logger whose lines the test reads back, and can wait for. */
export function captureLog(): { logger: Logger; output(): string; seen(text: string): Promise<void> } {
  const lines: string[] = [];
  const waiters: Array<{ text: string; resolve: () => void }> = [];
  const logger = createLogger({
    level: 'trace',
    destination: {
      write(line: string) {
        lines.push(line);
        for (const waiter of [...waiters]) {
          if (!line.includes(waiter.text)) continue;
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve();
        }
      },
    },
  });
  return {
    logger,
    output: () => lines.join(''),
    seen: (text) =>
      lines.some((line) => line.includes(text)) ? Promise.resolve() : new Promise((resolve) => waiters.push({ text, resolve })),
  };
}
