import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Hub } from '../../src/hub/index.ts';
import { CloseCode } from '../../src/protocol/close-codes.ts';
import { envelope, type Frame, ManualClock, startHub, TestClient, TOKEN } from '../hub/helpers.ts';
import { until } from '../support/loopback.ts';
import { modelRunParameters } from '../support/model-run.ts';
import { heapAfterGc, mib } from './heap.ts';
import { type HostileFrame, hostileSequence } from './hostile-frames.ts';

/*
 * Generated hostile frames against a real hub on loopback: an authenticated device and a
 * stranger (no `connect`) send them, and each must get what docs/protocol.md says: its `error`
 * frame, in order, with the 11th bad frame in a minute closing 1008, an unsupported version
 * closing 4004 and a frame over the limit 1009. Meanwhile an execution accepted before the
 * hostile frames still completes, a bystander device is served after every run, and the heap
 * comes back to where it was.
 */

const MAX_FRAME_BYTES = 128 * 1024;
const MAX_BAD_FRAMES = 10;
const TENANT = 'tenant-1';
const params = modelRunParameters('hub frames', 150);

type Expected = { reply: Record<string, unknown>; noRefId: boolean };

/** What the hub answers an open session's frames with, in order, and how it closes (if it does). */
function sessionModel(frames: HostileFrame[]): { replies: Expected[]; close?: number } {
  const replies: Expected[] = [];
  let bad = 0;
  for (const { outcome } of frames) {
    if (outcome.kind === 'oversized') return { replies, close: CloseCode.tooLarge };
    if (outcome.kind === 'probe') replies.push({ reply: { type: 'heartbeat_ack', seq: outcome.key }, noRefId: false });
    if (outcome.kind !== 'refused') continue;
    replies.push({
      reply: { type: 'error', code: outcome.code, ...(outcome.refId !== undefined && { ref_id: outcome.refId }) },
      noRefId: outcome.refId === undefined,
    });
    if (outcome.code === 'unsupported_version') return { replies, close: CloseCode.unsupportedVersion };
    bad += 1;
    if (bad > MAX_BAD_FRAMES) return { replies, close: CloseCode.policyViolation };
  }
  return { replies };
}

/** What the hub answers the first frame of a socket that never sent `connect` with, and its close. */
function strangerModel({ outcome, category }: HostileFrame): { reply?: Expected; close: number } {
  if (outcome.kind === 'oversized') return { close: CloseCode.tooLarge };
  if (category.replace('(binary)', '') === 'wrong_direction.connect') {
    // The example `connect` is a valid frame with a token the hub never issued.
    return {
      reply: { reply: { type: 'error', code: 'auth_failed', ref_id: expect.any(String) }, noRefId: false },
      close: CloseCode.authFailed,
    };
  }
  if (outcome.kind === 'refused') {
    const reply = {
      reply: { type: 'error', code: outcome.code, ...(outcome.refId !== undefined && { ref_id: outcome.refId }) },
      noRefId: outcome.refId === undefined,
    };
    return { reply, close: outcome.code === 'unsupported_version' ? CloseCode.unsupportedVersion : CloseCode.policyViolation };
  }
  return {
    reply: { reply: { type: 'error', code: 'not_connected', ref_id: outcome.id }, noRefId: false },
    close: CloseCode.policyViolation,
  };
}

async function expectReply(client: TestClient, expected: Expected, context: string): Promise<void> {
  const frame: Frame = await client.next();
  expect(frame, context).toMatchObject(expected.reply);
  if (expected.noRefId) expect(frame, context).not.toHaveProperty('ref_id');
}

/**
 * A device with an execution it accepted before anything hostile was sent. Device ids come from
 * a small pool (the hub keeps delivery state per device id it has seen, and the heap check is
 * about what hostile frames leave behind); a failed run moves to a fresh pool, so what it left
 * unfinished cannot confuse the runs that shrink it.
 */
async function deviceWithAcceptedWork(hub: Hub, url: string, pool: number, run: number) {
  const deviceId = `fuzz-${pool}-${run % 4}`;
  const requestId = `req-${run}`;
  const { client } = await TestClient.connect(url, { device_id: deviceId, tenant_id: TENANT });
  const execution = hub.execute(deviceId, { request_id: requestId, job_type: 'tool', tool_name: 'echo' }, { tenantId: TENANT });
  const delivered = await client.next();
  expect(delivered).toMatchObject({ type: 'execution_request', request_id: requestId });
  client.send(envelope('ack', { seq: delivered.seq }));
  client.send(envelope('execution_event', { event_id: `${requestId}:accepted`, request_id: requestId, event_type: 'accepted', seq: 1 }));
  expect(await client.next()).toMatchObject({ type: 'ack', seq: 1 });
  return { client, deviceId, requestId, execution };
}

describe('hub under generated hostile frames', () => {
  it(
    'answers each with its documented error or close, keeps accepted work and other devices, and stays bounded',
    { timeout: 120_000 + params.numRuns * 400 },
    async () => {
      const started = Date.now();
      // Few finished executions kept, so what the hub may keep is bounded however many runs there are.
      const delivery = { retainExecutions: 16 };
      const { hub, url } = await startHub({
        staticToken: TOKEN,
        clock: new ManualClock(),
        maxFrameBytes: MAX_FRAME_BYTES,
        maxBadFrames: MAX_BAD_FRAMES,
        delivery,
      });
      const { client: bystander } = await TestClient.connect(url, { device_id: 'bystander', tenant_id: TENANT });
      const heapBefore = await heapAfterGc();
      let runs = 0;
      let framesTried = 0;
      const closes = new Map<number, number>();
      const categories = new Set<string>();

      let pool = 0;
      /** One run: a device's session and a stranger's socket, each sent its frames at once (a pipelined flood). */
      const oneRun = async (frames: HostileFrame[], strangerFrames: HostileFrame[]) => {
        const run = ++runs;
        for (const frame of [...frames, ...strangerFrames]) categories.add(frame.category);
        const work = await deviceWithAcceptedWork(hub, url, pool, run);
        const stranger = await TestClient.open(url);
        let session = work.client;
        try {
          for (const frame of frames) work.client.send(frame.data);
          for (const frame of strangerFrames) stranger.send(frame.data);
          framesTried += frames.length + strangerFrames.length;

          const model = sessionModel(frames);
          for (const [i, expected] of model.replies.entries()) await expectReply(work.client, expected, `reply ${i} of run ${run}`);
          if (model.close !== undefined) {
            expect((await work.client.closed).code, `close of run ${run}`).toBe(model.close);
            closes.set(model.close, (closes.get(model.close) ?? 0) + 1);
            // The device comes back; the execution it accepted is still its to finish.
            session = (await TestClient.connect(url, { device_id: work.deviceId, tenant_id: TENANT })).client;
          }
          // Nothing more was answered than the model says: the next answer is this probe's.
          const seq = session.heartbeat();
          expect(await session.next()).toMatchObject({ type: 'heartbeat_ack', seq });
          session.send(
            envelope('execution_event', {
              event_id: `${work.requestId}:end`,
              request_id: work.requestId,
              event_type: 'completed',
              data: { result: run },
              seq: 2,
            }),
          );
          expect(await work.execution.result).toMatchObject({ status: 'completed', data: { result: run } });

          const first = strangerModel(strangerFrames[0]!);
          if (first.reply) await expectReply(stranger, first.reply, `stranger of run ${run}`);
          expect((await stranger.closed).code, `stranger close of run ${run}`).toBe(first.close);
          // (Not `expect(…).rejects`: vitest keeps each such assertion, and its socket, until the test ends.)
          expect(
            await stranger.next().then(
              (frame) => frame.type,
              () => 'nothing more',
            ),
            'one answer only',
          ).toBe('nothing more');

          const beat = bystander.heartbeat();
          expect(await bystander.next()).toMatchObject({ type: 'heartbeat_ack', seq: beat });
        } catch (error) {
          pool += 1;
          throw error;
        } finally {
          await Promise.all([session.close(), work.client.close(), stranger.close()]);
        }
      };

      await fc.assert(
        fc.asyncProperty(hostileSequence('hub', MAX_FRAME_BYTES, 30), hostileSequence('hub', MAX_FRAME_BYTES, 3), oneRun),
        params,
      );

      // Every fuzzing socket is gone: only the bystander's session is held.
      await until(() => hub.devices().length === 1);
      expect(hub.devices().map((device) => device.device_id)).toEqual(['bystander']);
      const grown = (await heapAfterGc()) - heapBefore;
      // The hub legitimately keeps 16 finished executions and four devices' delivery state (a few
      // KiB each); not sockets, sessions, or any of the megabytes of frames. 16 MiB is far above
      // the first and below what even one run sends.
      expect(grown).toBeLessThan(16 * 1024 * 1024);
      console.log(
        `hub fuzz: ${framesTried} frames tried in ${runs} runs (${categories.size} categories), ` +
          `closes ${JSON.stringify(Object.fromEntries(closes))}, heap ${grown >= 0 ? '+' : ''}${mib(grown)} MiB, ${Date.now() - started} ms`,
      );
    },
  );
});
