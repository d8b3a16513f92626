import { describe, expect, it } from 'vitest';
import { engineNodes } from '../../support/engine-nodes.ts';

/**
 * One contract, both engines, for the REST API's keys as hub nodes share them: a key made on one
 * node authenticates on the other as soon as it is stored; a revocation or a rotation there
 * counts at the other's next request; uses counted on both nodes add up and never undo a
 * revocation made meanwhile.
 */

const NOW = 1_767_225_600_000;
const CI = { name: 'ci', permissions: ['usage:read' as const] };

describe.each(Object.keys(engineNodes))('the %s engine, as several nodes: API keys', (name) => {
  const setup = engineNodes[name]!;

  it('a key made on one node works on the other once stored; revoked there, it is refused here at the next request', async () => {
    const nodes = await setup();
    const [a, b] = [nodes.a.apiKeys, nodes.b.apiKeys];
    const made = a.create('acme', CI, NOW)!;
    await a.settled();
    expect(await b.authenticate(made.secret, NOW + 1)).toMatchObject({ ok: true, key: { id: made.id, tenant_id: 'acme', use_count: 1 } });
    expect(await a.authenticate(made.secret, NOW + 2)).toMatchObject({ ok: true, key: { use_count: 2, last_used_at: NOW + 2 } });
    // b learns of the key on its next request, or by reading it again: then it lists it too.
    await b.refresh(made.id);
    expect(b.list('acme', NOW + 3)).toEqual([expect.objectContaining({ id: made.id, use_count: 2, revoked_at: null })]);
    expect(b.revoke('acme', made.id, NOW + 3)).toBe(true);
    await b.settled();
    expect(await a.authenticate(made.secret, NOW + 4)).toEqual({ ok: false, reason: 'revoked', id: made.id });
    await nodes.close();
  });

  it('a rotation on one node refuses the old secret on the other; a use never undoes a revocation, a rotation never revives a key', async () => {
    const nodes = await setup();
    const [a, b] = [nodes.a.apiKeys, nodes.b.apiKeys];
    const made = a.create('acme', CI, NOW)!;
    await a.settled();
    expect((await b.authenticate(made.secret, NOW + 1)).ok).toBe(true);
    const rotated = a.rotate('acme', made.id, NOW + 2);
    if (typeof rotated === 'string') throw new Error(rotated);
    await a.settled();
    expect(await b.authenticate(made.secret, NOW + 3)).toEqual({ ok: false, reason: 'wrong_secret', id: made.id });
    expect((await b.authenticate(rotated.secret, NOW + 3)).ok).toBe(true);
    // Uses on both nodes while one revokes: every use counts, and the key stays revoked.
    const uses = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).authenticate(rotated.secret, NOW + 4)));
    a.revoke('acme', made.id, NOW + 5);
    await Promise.all([a.settled(), b.settled()]);
    const counted = uses.filter((use) => use.ok).length;
    await b.refresh(made.id);
    expect(b.get('acme', made.id)).toMatchObject({ revoked_at: NOW + 5, use_count: 1 + 1 + counted });
    // b rotates from what it holds, not knowing of the revocation: the store keeps the key revoked.
    const stale = nodes.durable ? b.rotate('acme', made.id, NOW + 6) : 'revoked';
    await b.settled();
    if (typeof stale !== 'string') expect((await a.authenticate(stale.secret, NOW + 7)).ok).toBe(false);
    expect(await a.authenticate(rotated.secret, NOW + 7)).toEqual({ ok: false, reason: 'revoked', id: made.id });
    await nodes.close();
  });
});
