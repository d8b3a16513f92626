import { describe, expect, it } from 'vitest';
import { ConfigError, connectorConfigFromEnv, parseConnectorConfig } from '../../src/connector/config.ts';

const issuesOf = (input: Parameters<typeof parseConnectorConfig>[0]) => {
  try {
    parseConnectorConfig(input);
    return [];
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).issues.map((i) => i.path);
  }
};

describe('connector configuration', () => {
  it('needs nothing in standalone mode and fills every default', () => {
    const config = parseConnectorConfig({});
    expect(config.url).toBeUndefined();
    expect(config.tenantId).toBe('local');
    expect(config.deviceId).toMatch(/^[0-9a-f-]{36}$/);
    expect(config.backoff).toMatchObject({ baseMs: 1_000, capMs: 30_000, stableAfterMs: 30_000, suspendAfterMs: 120_000 });
    expect(config.restart).toEqual({ maxRestarts: 3, windowMs: 60_000 });
    expect(config.maxFrameBytes).toBe(1024 * 1024);
  });

  it.each([
    ['http://hub/v1/connect', 'not a WebSocket URL'],
    ['ws://hub/v1/connect#frag', 'a fragment, which ws refuses at open'],
    ['ws://user:pass@hub/v1/connect', 'credentials in the URL'],
    ['not a url', 'not a URL'],
  ])('refuses url %s (%s)', (url) => {
    expect(issuesOf({ url, token: 't' })).toEqual(['url']);
  });

  it('bounds reliable channel messages by the reliableChannels policy: defaults, overrides, refusals by name', () => {
    expect(parseConnectorConfig({}).reliableChannels).toEqual({ maxUnacked: 1_000, ttlMs: 3_600_000 });
    expect(parseConnectorConfig({ reliableChannels: { ttlMs: 60_000 } }).reliableChannels).toEqual({ maxUnacked: 1_000, ttlMs: 60_000 });
    expect(issuesOf({ reliableChannels: { maxUnacked: 0, ttlMs: -1 } }).sort()).toEqual([
      'reliableChannels.maxUnacked',
      'reliableChannels.ttlMs',
    ]);
  });

  it('requires a token with a url, and names every bad field at once', () => {
    expect(issuesOf({ url: 'wss://hub.example/v1/connect' })).toEqual(['token']);
    expect(issuesOf({ url: 'ws://hub/v1/connect', token: 't', tenantId: '', connectTimeoutMs: 0 }).sort()).toEqual([
      'connectTimeoutMs',
      'tenantId',
    ]);
  });

  it('reads the connector variables, treating empty ones as unset', () => {
    const env = {
      CLOUD_WS_URL: ' ws://127.0.0.1:7070/v1/connect ',
      CLOUD_TOKEN: 'tok',
      DEVICE_ID: 'box-1',
      TENANT_ID: '',
      CLOUDTETHER_CONNECT_TIMEOUT_MS: '2500',
    };
    const config = parseConnectorConfig(connectorConfigFromEnv(env));
    expect(config).toMatchObject({
      url: 'ws://127.0.0.1:7070/v1/connect',
      token: 'tok',
      deviceId: 'box-1',
      tenantId: 'local',
      connectTimeoutMs: 2_500,
    });
  });

  it('lets overrides win over the environment and runs standalone without CLOUD_WS_URL', () => {
    expect(connectorConfigFromEnv({ DEVICE_ID: 'env' }, { deviceId: 'flag' })).toEqual({ deviceId: 'flag' });
    expect(parseConnectorConfig(connectorConfigFromEnv({ CLOUD_TOKEN: 'tok' })).url).toBeUndefined();
  });

  it('refuses a refresh policy that could refresh after expiry', () => {
    expect(issuesOf({ url: 'ws://h/v1/connect', credential: 'c', authPolicy: { refreshAt: 0.9, refreshJitter: 0.5 } })).toEqual([
      'authPolicy',
    ]);
  });

  it('refuses a non-numeric timeout from the environment by name', () => {
    expect(issuesOf(connectorConfigFromEnv({ CLOUDTETHER_CONNECT_TIMEOUT_MS: 'soon' }))).toEqual(['connectTimeoutMs']);
  });
});
