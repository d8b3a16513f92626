import { generateKeyPair } from 'jose';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { RedisKeys } from '../../../../src/hub/engine/redis/redis-keys.ts';
import { RedisSigningKeys } from '../../../../src/hub/engine/redis/redis-signing-keys.ts';
import { silentLogger } from '../../../../src/log/logger.ts';
import { startRedis } from '../../../support/redis-server.ts';

const NOW = 1_767_225_600_000;

describe('RedisSigningKeys', () => {
  it('a reload asked while a rotation is being made here keeps the rotated key signing', async () => {
    const redis = await startRedis();
    const client = new Redis(redis.url);
    // The rotation's key pair is made only when the test says: the reload comes in between.
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let made = 0;
    const keys = new RedisSigningKeys(
      {
        now: () => NOW,
        retireAfterMs: 60_000,
        generateKeyPair: async () => {
          if (made++ === 1) await gate;
          return generateKeyPair('ES256', { extractable: true });
        },
      },
      silentLogger(),
    );
    keys.opening();
    await keys.open(client, new RedisKeys('hub:'));
    const first = (await keys.current()).kid;

    const rotating = keys.rotate();
    // The rotation's signer is this process's from now on, its key not stored yet.
    await new Promise((resolve) => setImmediate(resolve));
    const reloading = keys.reload(); // another node's note arrives meanwhile
    await new Promise((resolve) => setImmediate(resolve));
    release();
    const rotated = await rotating;
    await reloading;

    expect(rotated).not.toBe(first);
    expect((await keys.current()).kid).toBe(rotated);
    expect(await client.get('hub:auth:keys:current')).toBe(rotated);
    client.disconnect();
  });
});
