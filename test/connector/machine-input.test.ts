import { describe, expect, it } from 'vitest';
import { parseConnectorConfig } from '../../src/connector/config.ts';
import { authModeOf, SEED_SALT, supervisorInputOf } from '../../src/connector/machine-input.ts';

const now = () => 0;
const handshake = () => ({});
const host = {
  now,
  handshake,
  settings: { defaults: { theme: 'light' }, validate: (s: Record<string, unknown>) => ({ ok: true as const, value: s }) },
};

describe('authModeOf', () => {
  it('reads the credential the config gives', () => {
    expect(authModeOf({ url: undefined, userLogin: false, credential: undefined })).toBe('none');
    expect(authModeOf({ url: 'ws://h/v1/connect', userLogin: true, credential: undefined })).toBe('user');
    expect(authModeOf({ url: 'ws://h/v1/connect', userLogin: false, credential: 'c' })).toBe('device');
    expect(authModeOf({ url: 'ws://h/v1/connect', userLogin: false, credential: undefined })).toBe('static');
  });
});

describe('supervisorInputOf', () => {
  const cfg = parseConnectorConfig({
    url: 'ws://hub.test/v1/connect',
    token: 'tok',
    tokenExpiresAt: 9_000,
    deviceId: 'dev-1',
    tenantId: 'acme',
    client: { name: 'app', version: '2' },
  });

  it('gives the connection the seed itself and every other jittered machine its own', () => {
    const input = supervisorInputOf(cfg, 42, host);
    expect(input.connection.seed).toBe(42);
    expect(input.auth.seed).toBe(42 ^ SEED_SALT.auth);
    expect(input.settings?.seed).toBe(42 ^ SEED_SALT.settings);
    expect(input.seed).toBe(42 ^ SEED_SALT.channels);
    const seeds = [input.connection.seed, input.auth.seed, input.settings?.seed, input.seed];
    expect(new Set(seeds).size).toBe(seeds.length);
  });

  it('keeps the salts that recorded sessions replay with', () => {
    expect(SEED_SALT).toEqual({ channels: 0x27d4eb2f, settings: 0x1b873593, auth: 0x5bd1e995, api: 0x68e31da4, telemetry: 0x2545f491 });
    expect(new Set(Object.values(SEED_SALT)).size).toBe(5);
  });

  it('passes each policy and the connection settings through from the config', () => {
    const input = supervisorInputOf(cfg, 1, host);
    expect(input.restartPolicy).toBe(cfg.restart);
    expect(input.channelPolicy).toBe(cfg.channels);
    expect(input.auth).toMatchObject({ mode: 'static', staticGrant: { token: 'tok', expiresAt: 9_000 }, policy: cfg.authPolicy });
    expect(input.connection).toMatchObject({
      url: 'ws://hub.test/v1/connect',
      deviceId: 'dev-1',
      tenantId: 'acme',
      client: { name: 'app', version: '2' },
      policy: cfg.backoff,
      connectTimeoutMs: cfg.connectTimeoutMs,
      closeTimeoutMs: cfg.closeTimeoutMs,
      handshake,
    });
    expect(input.settings).toMatchObject({ remote: true, policy: cfg.settings, defaults: { theme: 'light' } });
  });

  it('is pure: the same config and seed give the same input', () => {
    expect(JSON.stringify(supervisorInputOf(cfg, 7, host))).toBe(JSON.stringify(supervisorInputOf(cfg, 7, host)));
  });

  it('has no settings child for static settings, and a local-only one standalone', () => {
    expect(supervisorInputOf(cfg, 1, { ...host, settings: undefined })).not.toHaveProperty('settings');
    const standalone = supervisorInputOf(parseConnectorConfig({}), 1, host);
    expect(standalone.settings?.remote).toBe(false);
    expect(standalone.auth.mode).toBe('none');
    expect(standalone.auth).not.toHaveProperty('staticGrant');
  });
});
