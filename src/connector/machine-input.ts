import { tokenTiming } from '../actors/device-token.ts';
import type { AuthMode } from '../machines/auth.ts';
import type { ConnectionInput } from '../machines/connection.ts';
import type { SupervisorInput } from '../machines/supervisor.ts';
import type { SettingsValues } from '../protocol/settings-document.ts';
import type { ValidateSettings } from '../machines/settings-sync-state.ts';
import type { ConnectorConfig } from './config.ts';

/**
 * What each jittered part of the connector XORs into the one seed, so that each draws its own
 * random sequence: with the same seed for all, the connection's first reconnect delay and the
 * auth machine's first retry would be the same fraction of their ceilings, every time. The
 * values are well-known odd 32-bit constants of hash functions (xxHash's PRIME32_4,
 * MurmurHash3's c2, MurmurHash2's m, Squirrel3's first noise, xorshift64*'s multiplier, top
 * half), picked only to share few bits with each other. The connection machine takes the seed
 * as it is. A recording keeps only the seed and replays by deriving the same values: they must
 * never change, or recorded sessions stop replaying (test/fixtures).
 */
export const SEED_SALT = {
  /** The channels' rejoin jitter (each channel mixes in a hash of its name as well). */
  channels: 0x27d4eb2f,
  /** The settings-sync child's retry jitter. */
  settings: 0x1b873593,
  /** The auth machine's refresh and retry jitter. */
  auth: 0x5bd1e995,
  /** The API client's retry jitter. */
  api: 0x68e31da4,
  /** Telemetry's retry jitter. */
  telemetry: 0x2545f491,
} as const;

/** Which credential the config gives: a user login, a device credential, a static token, or none (standalone). */
export function authModeOf(cfg: Pick<ConnectorConfig, 'url' | 'userLogin' | 'credential'>): AuthMode {
  return cfg.url === undefined ? 'none' : cfg.userLogin ? 'user' : cfg.credential !== undefined ? 'device' : 'static';
}

/** What the machines need from the host besides the config. */
export interface MachineHost {
  /** Wall clock of every machine. */
  now: () => number;
  /** The extra `connect` fields, read at each attempt (the data plane's resume cursor, capacity, runtime). */
  handshake: NonNullable<ConnectionInput['handshake']>;
  /** The settings-sync child's defaults and validation; undefined for static settings, which never sync (no child). */
  settings: { defaults: SettingsValues; validate: ValidateSettings } | undefined;
}

/** The supervisor's input, and through it every child's: a pure function of the config and the seed. */
export function supervisorInputOf(cfg: ConnectorConfig, seed: number, host: MachineHost): SupervisorInput {
  const { now } = host;
  return {
    now,
    restartPolicy: cfg.restart,
    channelPolicy: cfg.channels,
    seed: seed ^ SEED_SALT.channels,
    ...(host.settings && {
      settings: { remote: cfg.url !== undefined, policy: cfg.settings, ...host.settings, seed: seed ^ SEED_SALT.settings },
    }),
    heartbeat: { now },
    auth: {
      mode: authModeOf(cfg),
      ...(cfg.token !== undefined && {
        staticGrant: { token: cfg.token, expiresAt: cfg.tokenExpiresAt ?? tokenTiming(cfg.token).expiresAt },
      }),
      policy: cfg.authPolicy,
      seed: seed ^ SEED_SALT.auth,
      now,
    },
    connection: {
      url: cfg.url,
      deviceId: cfg.deviceId,
      tenantId: cfg.tenantId,
      ...(cfg.client && { client: cfg.client }),
      policy: cfg.backoff,
      connectTimeoutMs: cfg.connectTimeoutMs,
      closeTimeoutMs: cfg.closeTimeoutMs,
      seed,
      now,
      handshake: host.handshake,
    },
  };
}
