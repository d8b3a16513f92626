import fc from 'fast-check';
import { describe, expect, it, onTestFinished } from 'vitest';
import { z } from 'zod';
import type { ConnectorEvent } from '../../src/connector/connector.ts';
import { CloseCode } from '../../src/protocol/close-codes.ts';
import { deferred } from '../support/execution-fixture.ts';
import { type HubSocket, startFakeHub } from '../support/fake-hub.ts';
import { startConnector, until } from '../support/loopback.ts';
import { modelRunParameters } from '../support/model-run.ts';
import { heapAfterGc, mib } from './heap.ts';
import { type HostileFrame, hostileSequence } from './hostile-frames.ts';

/*
 * The hub side turned hostile: a fake hub (a bare `ws` server on loopback) completes the
 * handshake, then sends a real connector generated hostile frames. The connector answers each
 * bad one with its `error` frame (docs/protocol.md, "Errors": the connector answers bad hub
 * frames the same way, without closing), closes 1009 on a frame over its limit and reconnects,
 * and keeps its work: an execution accepted before the hostile frames still ends `completed`.
 */

const MAX_FRAME_BYTES = 128 * 1024;
const params = modelRunParameters('connector frames', 120);

/** The `error` frames the connector must send for `frames`, in order, and whether it closes (1009) on one. */
function connectorModel(frames: HostileFrame[]): {
  errors: Array<{ code: string; refId?: string }>;
  probes: Array<string | number>;
  closes: boolean;
} {
  const errors: Array<{ code: string; refId?: string }> = [];
  const probes: Array<string | number> = [];
  for (const { outcome } of frames) {
    if (outcome.kind === 'oversized') return { errors, probes, closes: true };
    if (outcome.kind === 'refused') errors.push({ code: outcome.code, ...(outcome.refId !== undefined && { refId: outcome.refId }) });
    if (outcome.kind === 'probe') probes.push(outcome.key);
  }
  return { errors, probes, closes: false };
}

const probeFrame = (reloadId: string) =>
  JSON.stringify({ v: 1, id: `probe-${reloadId}`, type: 'capability_reload', ts: 0, reload_id: reloadId });
const errorsOn = (socket: HubSocket) =>
  socket.frames.filter((f) => f.type === 'error').map((f) => ({ code: f.code, ...(f.ref_id !== undefined && { refId: f.ref_id }) }));
const resultsOn = (socket: HubSocket) => socket.frames.filter((f) => f.type === 'capability_reload_result').map((f) => f.reload_id);

describe('connector under generated hostile frames from its hub', () => {
  it(
    'answers each with its documented error frame or close, keeps accepted work, and stays bounded',
    { timeout: 120_000 + params.numRuns * 400 },
    async () => {
      const started = Date.now();
      const failures: unknown[] = [];
      const onFailure = (error: unknown) => failures.push(error);
      process.on('unhandledRejection', onFailure);
      process.on('uncaughtException', onFailure);
      onTestFinished(() => {
        process.off('unhandledRejection', onFailure);
        process.off('uncaughtException', onFailure);
      });
      const hub = startFakeHub();
      const { connector, clock, events } = startConnector(await hub.url, { maxFrameBytes: MAX_FRAME_BYTES });
      const gates = new Map<number, ReturnType<typeof deferred<{ run: number }>>>();
      connector.handle('tool', 'slow', { input: z.object({ run: z.number() }), run: ({ run }) => gates.get(run)!.promise });
      connector.start();

      /** Waits for a live session, moving the simulated clock past any retry delay. */
      const connectedSocket = async (): Promise<HubSocket> => {
        await until(
          () => connector.status.connection.state === 'connected' && hub.state.current?.closedWith === undefined,
          () => clock.increment(connector.status.connection.retryInMs ?? 0),
        );
        return hub.state.current!;
      };
      await connectedSocket();
      const heapBefore = await heapAfterGc();
      let runs = 0;
      let framesTried = 0;
      let reconnects = 0;

      await fc.assert(
        fc.asyncProperty(hostileSequence('device', MAX_FRAME_BYTES, 30), async (frames) => {
          const run = ++runs;
          const socket = await connectedSocket();
          // Work accepted before anything hostile arrives.
          const gate = deferred<{ run: number }>();
          gates.set(run, gate);
          socket.ws.send(
            hub.frame('execution_request', {
              request_id: `req-${run}`,
              job_type: 'tool',
              tool_name: 'slow',
              inputs: { run },
              timeout_ms: 86_400_000,
              seq: ++hub.state.seq,
            }),
          );
          await until(() => hub.state.events.some((e) => e.event_id === `req-${run}:accepted`));

          const before = { errors: errorsOn(socket).length, results: resultsOn(socket).length };
          for (const frame of frames) socket.ws.send(frame.data);
          socket.ws.send(probeFrame(`fence-${run}`));
          framesTried += frames.length + 1;

          const model = connectorModel(frames);
          if (model.closes) {
            await until(() => socket.closedWith !== undefined);
            expect(socket.closedWith, `close of run ${run}`).toBe(CloseCode.tooLarge);
          } else {
            await until(() => resultsOn(socket).includes(`fence-${run}`) && errorsOn(socket).length >= before.errors + model.errors.length);
          }
          expect(errorsOn(socket).slice(before.errors), `error frames of run ${run}`).toEqual(model.errors);
          expect(resultsOn(socket).slice(before.results), `probe answers of run ${run}`).toEqual([
            ...model.probes,
            ...(model.closes ? [] : [`fence-${run}`]),
          ]);

          // Still working afterwards, on a new session if the old one was closed.
          const live = await connectedSocket();
          if (live !== socket) reconnects += 1;
          live.ws.send(probeFrame(`after-${run}`));
          await until(() => resultsOn(live).includes(`after-${run}`));
          gate.resolve({ run });
          await until(() => hub.state.events.some((e) => e.event_id === `req-${run}:end`));
          expect(hub.state.events.find((e) => e.event_id === `req-${run}:end`)).toMatchObject({
            event_type: 'completed',
            data: { result: { run } },
          });
          gates.delete(run);
        }),
        params,
      );

      const supervision = events.filter((e: ConnectorEvent) => e.type === 'child.restarted' || e.type === 'child.failed');
      expect(supervision).toEqual([]);
      expect(failures).toEqual([]);
      expect(connector.executions).toMatchObject({ active: [] });
      // What the test itself recorded (every frame either way, every connector event) goes first;
      // the connector legitimately keeps each finished request's outcome against redelivery.
      hub.state.events.length = 0;
      if (hub.state.current) hub.state.current.frames.length = 0;
      events.length = 0;
      const grown = (await heapAfterGc()) - heapBefore;
      expect(grown).toBeLessThan(16 * 1024 * 1024);
      console.log(
        `connector fuzz: ${framesTried} frames tried in ${runs} runs, ${reconnects} reconnects after 1009, ` +
          `heap ${grown >= 0 ? '+' : ''}${mib(grown)} MiB, ${Date.now() - started} ms`,
      );
    },
  );
});
