import { describe, expect, it } from 'vitest';
import { UserLogins } from '../../../src/hub/auth/user-logins.ts';
import type { HubEngine } from '../../../src/hub/engine/hub-engine.ts';
import type { HubUser } from '../../../src/hub/index.ts';
import { engineNodes } from '../../support/engine-nodes.ts';

/**
 * One contract, both engines, for user logins as hub nodes share them: a device login started
 * on one node is approved on another and redeemed on either, once; a refresh token issued by one
 * node rotates on the other, once; a rotated token presented anywhere is a replay, and revoking
 * its family takes every access token the family issued, on whichever node.
 */

const NOW = 1_767_225_600_000;
const USERS: HubUser[] = [{ user_id: 'ada', organizations: [{ id: 'acme', name: 'Acme', role: 'owner' }] }];
const DEVICE_CODE_LIFETIME_MS = 60_000;
const REFRESH_LIFETIME_MS = 3_600_000;

function loginsOn(engine: HubEngine, clock: { now: number }): UserLogins {
  return new UserLogins({
    users: USERS,
    now: () => clock.now,
    refreshTokenLifetimeMs: REFRESH_LIFETIME_MS,
    deviceCodeLifetimeMs: DEVICE_CODE_LIFETIME_MS,
    pollIntervalS: 1,
    accessTokenGraceMs: 1_000,
    store: engine.logins,
  });
}

/** A login made on `a` and redeemed: its refresh token, and the access token's jti. */
async function loggedIn(a: UserLogins, b: UserLogins, clock: { now: number }) {
  const started = await a.startDeviceAuthorization('laptop-1');
  await b.approve(started.userCode, { userId: 'ada' });
  const check = await a.checkDeviceCode(started.deviceCode, 'laptop-1');
  if (!check.ok) throw new Error(`not granted: ${check.error}`);
  const committed = await check.commit({ jti: 'jti-1', expiresAt: clock.now + 2_000 });
  if (!committed.ok) throw new Error('not committed');
  return { refreshToken: committed.refreshToken, familyId: check.subject.familyId };
}

describe.each(Object.keys(engineNodes))('the %s engine, as several nodes: user logins', (name) => {
  const setup = engineNodes[name]!;

  it('a login started on one node is approved on the other, polled on both, and redeemed once', async () => {
    const nodes = await setup();
    const clock = { now: NOW };
    const [a, b] = [loginsOn(nodes.a, clock), loginsOn(nodes.b, clock)];
    const started = await a.startDeviceAuthorization('laptop-1');
    expect(started).toMatchObject({ userCode: expect.stringMatching(/^[A-Z]{4}-[A-Z]{4}$/), expiresInS: 60, intervalS: 1 });
    expect(await b.checkDeviceCode(started.deviceCode, 'laptop-1')).toEqual({
      ok: false,
      error: 'authorization_pending',
      loginId: started.loginId,
    });
    // A poll sooner than the interval after one on the other node is too soon.
    expect(await a.checkDeviceCode(started.deviceCode, 'laptop-1')).toMatchObject({ ok: false, error: 'slow_down' });
    expect(await b.checkDeviceCode(started.deviceCode, 'other-device')).toEqual({ ok: false, error: 'invalid_grant' });
    // Typed in lower case, with a space: the same code.
    expect(await b.approve(started.userCode.toLowerCase().replace('-', ' '), { userId: 'ada' })).toEqual({
      loginId: started.loginId,
      organization: 'acme',
    });
    await expect(a.approve(started.userCode, { userId: 'ada' })).rejects.toMatchObject({ code: 'unknown_user_code' });
    await expect(a.deny(started.userCode)).rejects.toMatchObject({ code: 'unknown_user_code' });
    clock.now += 6_000; // past the interval, grown to 6 s by the slow_down
    const [checkA, checkB] = [
      await a.checkDeviceCode(started.deviceCode, 'laptop-1'),
      ((clock.now += 6_000), await b.checkDeviceCode(started.deviceCode, 'laptop-1')),
    ];
    expect(checkA).toMatchObject({ ok: true, subject: { userId: 'ada', clientId: 'laptop-1', organization: { id: 'acme' } } });
    expect(checkB.ok).toBe(true);
    if (!checkA.ok || !checkB.ok) return;
    // Both nodes signed a token for the same device code at once: one of them redeems it.
    const commits = await Promise.all([
      checkA.commit({ jti: 'jti-a', expiresAt: clock.now + 2_000 }),
      checkB.commit({ jti: 'jti-b', expiresAt: clock.now + 2_000 }),
    ]);
    expect(commits.filter((commit) => commit.ok)).toHaveLength(1);
    expect(commits.filter((commit) => !commit.ok)).toEqual([{ ok: false, error: 'invalid_grant' }]);
    expect(await a.checkDeviceCode(started.deviceCode, 'laptop-1')).toEqual({ ok: false, error: 'invalid_grant' });
    await nodes.close();
  });

  it('a denial on one node is answered access_denied on the other; an expired code expired_token, then unknown', async () => {
    const nodes = await setup();
    const clock = { now: NOW };
    const [a, b] = [loginsOn(nodes.a, clock), loginsOn(nodes.b, clock)];
    const denied = await a.startDeviceAuthorization('laptop-1');
    expect(await b.deny(denied.userCode)).toEqual({ loginId: denied.loginId });
    expect(await a.checkDeviceCode(denied.deviceCode, 'laptop-1')).toEqual({ ok: false, error: 'access_denied', loginId: denied.loginId });
    const late = await b.startDeviceAuthorization('laptop-2');
    clock.now += DEVICE_CODE_LIFETIME_MS;
    await expect(a.approve(late.userCode, { userId: 'ada' })).rejects.toMatchObject({ code: 'unknown_user_code' });
    expect(await a.checkDeviceCode(late.deviceCode, 'laptop-2')).toEqual({ ok: false, error: 'expired_token', loginId: late.loginId });
    clock.now += DEVICE_CODE_LIFETIME_MS;
    expect(await b.checkDeviceCode(late.deviceCode, 'laptop-2')).toEqual({ ok: false, error: 'invalid_grant' });
    await nodes.close();
  });

  it('a refresh token issued on one node rotates on the other once; the rotated one is a replay anywhere', async () => {
    const nodes = await setup();
    const clock = { now: NOW };
    const [a, b] = [loginsOn(nodes.a, clock), loginsOn(nodes.b, clock)];
    const { refreshToken, familyId } = await loggedIn(a, b, clock);
    expect(await b.familyOf(refreshToken)).toEqual({ familyId, userId: 'ada', clientId: 'laptop-1' });
    clock.now += 1_000;
    const [onA, onB] = [
      await a.checkRefreshToken(refreshToken, 'laptop-1', undefined),
      await b.checkRefreshToken(refreshToken, 'laptop-1', undefined),
    ];
    if (!onA.ok || !onB.ok) throw new Error('refresh refused');
    // Two nodes rotate the same token at the same instant: one winner.
    const commits = await Promise.all([
      onA.commit({ jti: 'jti-2a', expiresAt: clock.now + 2_000 }),
      onB.commit({ jti: 'jti-2b', expiresAt: clock.now + 2_000 }),
    ]);
    const won = commits.find((commit) => commit.ok);
    expect(commits.filter((commit) => commit.ok)).toHaveLength(1);
    if (!won?.ok) return;
    expect(await a.checkRefreshToken(refreshToken, 'laptop-1', undefined)).toEqual({
      ok: false,
      error: 'invalid_grant',
      familyId,
      replay: true,
    });
    expect((await b.checkRefreshToken(won.refreshToken, 'laptop-2', undefined)).ok).toBe(false);
    const revoked = await a.revokeFamily(familyId);
    // The first access token and the winner's: both may still be accepted, whichever node signed them.
    const winnerJti = commits[0]!.ok ? 'jti-2a' : 'jti-2b';
    expect(revoked).toEqual({ familyId, userId: 'ada', clientId: 'laptop-1', accessTokens: expect.arrayContaining(['jti-1', winnerJti]) });
    expect(revoked?.accessTokens).toHaveLength(2);
    expect(await b.revokeFamily(familyId)).toBeUndefined();
    expect(await b.checkRefreshToken(won.refreshToken, 'laptop-1', undefined)).toEqual({ ok: false, error: 'invalid_grant' });
    expect(await b.familyOf(refreshToken)).toBeUndefined();
    await nodes.close();
  });

  it('a family ends with its newest refresh token; it outlives every node only on a durable engine', async () => {
    const nodes = await setup();
    const clock = { now: NOW };
    const { refreshToken } = await loggedIn(loginsOn(nodes.a, clock), loginsOn(nodes.b, clock), clock);
    const engine = await nodes.again();
    const again = loginsOn(engine, clock);
    expect((await again.checkRefreshToken(refreshToken, 'laptop-1', undefined)).ok).toBe(nodes.durable);
    clock.now += REFRESH_LIFETIME_MS;
    expect(await again.checkRefreshToken(refreshToken, 'laptop-1', undefined)).toEqual({ ok: false, error: 'invalid_grant' });
    await engine.close();
  });
});
