import { describe, expect, it } from 'vitest';
import { MemorySigningKeys } from '../../../src/hub/auth/signing-keys.ts';

/** Keys on a clock the test moves by hand. */
function keysAt(start: number, retireAfterMs: number) {
  const clock = { now: start };
  const keys = new MemorySigningKeys({ now: () => clock.now, retireAfterMs });
  return { clock, keys };
}

describe('MemorySigningKeys', () => {
  it('makes one key on first use and hands the same one out until a rotation', async () => {
    const { keys } = keysAt(0, 1_000);
    const first = await keys.current();
    expect((await keys.current()).kid).toBe(first.kid);
    const kid = await keys.rotate();
    expect(kid).not.toBe(first.kid);
    expect((await keys.current()).kid).toBe(kid);
  });

  it('a retired key verifies until retireAfterMs after the rotation, then leaves the key set', async () => {
    const { clock, keys } = keysAt(0, 1_000);
    const old = await keys.current();
    const kid = await keys.rotate();
    expect((await keys.jwks()).keys.map((key) => key.kid)).toEqual([old.kid, kid]);
    clock.now = 999;
    expect(keys.verificationKey(old.kid)).toBeDefined();
    clock.now = 1_000;
    expect(keys.verificationKey(old.kid)).toBeUndefined();
    expect((await keys.jwks()).keys.map((key) => key.kid)).toEqual([kid]);
  });

  it('a token signed with a key as it was retired keeps that key until the token expires', async () => {
    const { clock, keys } = keysAt(0, 1_000);
    const old = await keys.current();
    await keys.rotate();
    keys.signed(old.kid, 1_500);
    clock.now = 1_200;
    expect(keys.verificationKey(old.kid)).toBeDefined();
    clock.now = 1_500;
    expect(keys.verificationKey(old.kid)).toBeUndefined();
  });

  it('publishes only public halves, named by kid, for ES256', async () => {
    const { keys } = keysAt(0, 1_000);
    const { kid } = await keys.current();
    const [jwk] = (await keys.jwks()).keys;
    expect(jwk).toMatchObject({ kty: 'EC', crv: 'P-256', kid, alg: 'ES256', use: 'sig' });
    expect(jwk).not.toHaveProperty('d');
  });
});
