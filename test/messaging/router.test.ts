import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log/logger.ts';
import { MessagingRouter } from '../../src/messaging/router.ts';
import { MessagingEventMessage } from '../../src/protocol/messages.ts';
import { deferred, executorFixture, settle } from '../support/execution-fixture.ts';

const event = (request_id: string, workspace_id = 'ws-1') =>
  MessagingEventMessage.parse({
    v: 1,
    id: `m-${request_id}`,
    ts: 0,
    type: 'messaging_event',
    request_id,
    channel: 'line',
    event_type: 'message',
    message: { text: 'hi' },
    user_id: 'U1',
    workspace_id,
    reply_token: 'rt',
  });

function routerFixture() {
  const f = executorFixture();
  const router = new MessagingRouter({ outbox: f.outbox, journal: f.journal, clock: f.clock, logger: silentLogger() });
  const replies = () =>
    f
      .messages()
      .flatMap((m) => (m.type === 'messaging_reply' ? [{ request_id: m.request_id, reply_token: m.reply_token, ...m.result }] : []));
  return { ...f, router, replies };
}

describe('messaging router', () => {
  it('answers a duplicate within 120 s without calling the handler, and handles it again after', async () => {
    const f = routerFixture();
    let calls = 0;
    f.router.handle('ws-1', () => ({ text: `answer ${++calls}` }));
    await f.router.receive(event('r1'));
    await settle();
    f.clock.increment(119_999);
    await f.router.receive(event('r1'));
    await settle();
    f.clock.increment(2);
    await f.router.receive(event('r1'));
    await settle();
    expect(f.replies().map((r) => [r.status, r.text ?? r.reason?.slice(0, 20)])).toEqual([
      ['completed', 'answer 1'],
      ['duplicate', 'request r1 was recei'],
      ['completed', 'answer 2'],
    ]);
    expect(f.replies()[0]!.reply_token).toBe('rt');
  });

  it('journals a message until its reply is stored; after a crash it is answered `error` once', async () => {
    const first = routerFixture();
    const gate = deferred<{ text: string }>();
    first.router.handle('*', () => gate.promise);
    await first.router.receive(event('r1'));
    expect(first.journal.pending()).toHaveLength(1);

    const again = executorFixture({ log: first.log, journal: first.journal });
    const router = new MessagingRouter({ outbox: again.outbox, journal: again.journal, clock: again.clock, logger: silentLogger() });
    await router.recover();
    const replies = again.messages().filter((m) => m.type === 'messaging_reply');
    expect(replies).toEqual([
      expect.objectContaining({ request_id: 'r1', result: { status: 'error', error: expect.stringContaining('interrupted') } }),
    ]);
    expect(again.journal.pending()).toEqual([]);
  });
});
