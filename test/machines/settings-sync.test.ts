import { describe, expect, it } from 'vitest';
import { type AnyEventObject, createActor, createMachine, fromPromise } from 'xstate';
import {
  type PushAnswer,
  type PushInput,
  SettingsPolicy,
  settingsStateName,
  settingsSyncMachine,
  statusOf,
} from '../../src/machines/settings-sync.ts';
import { emptySettingsState } from '../../src/machines/settings-sync-state.ts';
import { flush } from '../support/harness.ts';

/** A settings actor on a live link, its HTTP answered by hand. */
function synced() {
  const fetches: Array<(snapshot: unknown) => void> = [];
  const pushes: Array<{ input: PushInput; resolve: (answer: PushAnswer) => void }> = [];
  const logic = settingsSyncMachine.provide({
    actors: {
      fetchSettings: fromPromise(() => new Promise((resolve) => void fetches.push(resolve))) as never,
      pushEdit: fromPromise<PushAnswer, PushInput>(({ input }) => new Promise((resolve) => void pushes.push({ input, resolve }))) as never,
    },
  });
  const out: AnyEventObject[] = [];
  const input = {
    state: emptySettingsState(),
    linkUp: true,
    remote: true,
    policy: SettingsPolicy.parse({}),
    defaults: {},
    validate: (s: Record<string, unknown>) => ({ ok: true as const, value: s }),
    seed: 1,
  };
  const root = createActor(
    createMachine({ invoke: { id: 'settings', src: logic, input }, on: { '*': { actions: ({ event }) => void out.push(event) } } }),
  );
  root.start();
  const actor = root.getSnapshot().children.settings!;
  const frame = (message: object) => actor.send({ type: 'frame', message: { v: 1, id: 'f', ts: 0, ...message } } as never);
  return { actor, out, fetches, pushes, frame, state: () => settingsStateName(actor.getSnapshot().value) };
}

describe('settings-sync machine', () => {
  it('writes a later edit on the document in force, not on the one an earlier 409 brought', async () => {
    const s = synced();
    s.frame({ type: 'settings_subscribed', epoch: 'e1', org_version: 0, user_version: 1 });
    await flush();
    s.fetches.shift()!({ epoch: 'e1', org: { version: 0, settings: {} }, user: { version: 1, settings: { k: 'a' } } });
    await flush();
    // k: a → b, but the hub changed k to c meanwhile: a conflict, the hub's value stays.
    s.actor.send({ type: 'edit', id: 'e1', patch: { k: 'b' } });
    await flush();
    s.pushes.shift()!.resolve({ status: 'conflict', current: { epoch: 'e1', version: 2, settings: { k: 'c' } } });
    await flush();
    expect(s.out.find((e) => e.type === 'settings.edit_done')).toMatchObject({ edit: { id: 'e1', status: 'conflict' } });
    // The pushes arrive, then the operator sets k = d; the user edits k: d → e.
    s.frame({ type: 'settings_patch', epoch: 'e1', document: 'user', version: 2, patch: { k: 'c' } });
    s.frame({ type: 'settings_patch', epoch: 'e1', document: 'user', version: 3, patch: { k: 'd' } });
    await flush();
    s.actor.send({ type: 'edit', id: 'e2', patch: { k: 'e' } });
    await flush();
    expect(s.pushes.map((p) => p.input)).toEqual([{ editId: 'e2', epoch: 'e1', version: 3, patch: { k: 'e' } }]);
    expect(s.out.filter((e) => e.type === 'settings.conflict')).toHaveLength(1);
  });
});

describe('settings-sync statusOf', () => {
  it('reports the versions in force and the edits not yet at the hub', () => {
    const f = synced();
    const status = statusOf(f.actor.getSnapshot());
    expect(status).toEqual({
      state: f.state(),
      reason: f.actor.getSnapshot().context.reason,
      orgVersion: 0,
      userVersion: 0,
      pendingEdits: 0,
    });
    f.actor.send({ type: 'edit', id: 'e1', patch: { theme: 'dark' } });
    expect(statusOf(f.actor.getSnapshot()).pendingEdits).toBe(1);
  });
});
