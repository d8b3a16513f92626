import { generateKeyPair } from 'jose';
import { describe, expect, it } from 'vitest';
import { startRedis } from '../../support/redis-server.ts';
import { ManualClock } from '../helpers.ts';
import { ENROLL_SECRET, postToken, startTokenHub } from '../token-helpers.ts';

/** 3 free failures per address, 5 per credential id, then 1 s, 2 s, 4 s, 8 s at most. */
const throttle = { freeFailuresPerAddress: 3, freeFailuresPerCredential: 5, baseLockoutMs: 1_000, maxLockoutMs: 8_000 };
const wrong = { device_id: 'device-1', tenant_id: 'tenant-1', credential: 'not-the-secret' };
/** The Redis engine keeps signing keys in Redis: their private halves must be extractable. */
const tokens = { generateKeyPair: () => generateKeyPair('ES256', { extractable: true }) };
const right = { device_id: 'device-1', tenant_id: 'tenant-1', credential: ENROLL_SECRET };

describe('the failure throttle on hubs sharing one Redis', () => {
  it('counts failures on node A and locks the address out on node B, until the window passes on the shared clock', async () => {
    const redis = await startRedis();
    const clock = new ManualClock();
    const engine = { redis: redis.url };
    const a = await startTokenHub({ throttle, engine, clock, tokens });
    const b = await startTokenHub({ throttle, engine, clock, tokens });
    for (let i = 0; i < 4; i++) expect((await postToken(a.port, wrong)).status).toBe(401);
    const refused = await postToken(b.port, right);
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ error: 'too_many_attempts', retry_after_s: 1 });
    // A failure on B grows the lock-out A sees.
    clock.advance(1_000);
    expect((await postToken(b.port, wrong)).status).toBe(401);
    expect((await postToken(a.port, right)).body).toMatchObject({ error: 'too_many_attempts', retry_after_s: 2 });
    clock.advance(2_000);
    expect((await postToken(a.port, right)).status).toBe(200);
  });
});
