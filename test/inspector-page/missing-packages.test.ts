import { createRequire } from 'node:module';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { createActor, createMachine, type InspectionEvent } from 'xstate';
import { createStatelyInspector } from '../../src/inspection-events/stately.ts';
import { InspectionStream } from '../../src/inspection-events/stream.ts';
import { importOptional, MissingPackageError } from '../../src/util/optional-package.ts';
import { layoutStatechart } from '../../src/inspector-page/layout.ts';
import type { ChartErrorMessage, SnapshotMessage } from '../../src/inspector-page/messages.ts';
import { startInspector } from '../../src/inspector-page/server.ts';
import { connectionMachine } from '../../src/machines/connection.ts';
import { openPage, withInspection } from '../support/inspector-page.ts';
import { startConnector } from '../support/loopback.ts';

/*
 * What the inspectors do where the optional packages are not installed. Both are installed in
 * this repository, so their imports are made to fail as Node fails an import of a package that
 * is not there (test/package/bundle.test.ts runs the real thing, from a bundle with neither).
 */
vi.mock('../../src/util/optional-package.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/util/optional-package.ts')>();
  const notInstalled = (name: string) =>
    Object.assign(new Error(`Cannot find package '${name}' imported from /app/dist/inspector-page/elk-engine.js`), {
      code: 'ERR_MODULE_NOT_FOUND',
    });
  return {
    ...real,
    importOptional: <T>(name: string, neededBy: string, load: () => Promise<T>) =>
      real.importOptional(name, neededBy, ['elkjs', '@statelyai/inspect'].includes(name) ? () => Promise.reject(notInstalled(name)) : load),
  };
});

/** A machine none of the connector's: it has no precomputed layout. */
const hostMachine = createMachine({
  id: 'host-machine',
  initial: 'idle',
  states: { idle: { on: { go: 'busy' } }, busy: { on: { done: 'idle' } } },
});

// Names no package in node_modules; variables, so neither TypeScript nor Vite resolves them ahead.
const ABSENT = 'cloudtether-absent-package';
const ABSENT_FILE = `${ABSENT}/lib/index.js`;

describe('an optional package that is not installed', () => {
  it('an ES import of it fails with MissingPackageError, which names the command that installs it', async () => {
    const error = await importOptional(ABSENT, 'a test needs it', () => import(ABSENT)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MissingPackageError);
    expect(error).toMatchObject({
      name: 'MissingPackageError',
      code: 'ERR_CLOUDTETHER_MISSING_PACKAGE',
      packageName: ABSENT,
      install: `npm install ${ABSENT}`,
    });
    expect((error as Error).message).toBe(`${ABSENT} is not installed (a test needs it); run \`npm install ${ABSENT}\``);
    expect((error as Error).cause).toMatchObject({ code: 'ERR_MODULE_NOT_FOUND' });
  });

  it('so does a require of one of its files (what a CommonJS bundle makes of the import)', async () => {
    const require = createRequire(import.meta.url);
    const error = await importOptional(ABSENT, 'a test needs it', async () => require(ABSENT_FILE) as unknown).catch((e: unknown) => e);
    expect(error).toMatchObject({
      name: 'MissingPackageError',
      packageName: ABSENT,
      cause: expect.objectContaining({ code: 'MODULE_NOT_FOUND' }),
    });
  });

  it('another module missing (a dependency of an installed package) is not reported as the package missing', async () => {
    const error = await importOptional('xstate', 'a test needs it', () => import(ABSENT)).catch((e: unknown) => e);
    expect(error).not.toBeInstanceOf(MissingPackageError);
    expect(error).toMatchObject({ code: 'ERR_MODULE_NOT_FOUND' });
  });
});

describe('the inspector without elkjs', () => {
  it('lays out the connector’s machines all the same (precomputed), and fails any other with what to install', async () => {
    expect((await layoutStatechart(connectionMachine)).machine).toBe('connection');
    const error = await layoutStatechart(hostMachine).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MissingPackageError);
    expect(error).toMatchObject({ packageName: 'elkjs', install: 'npm install elkjs' });
  });

  it('shows a page the error in the chart’s place, as it happens and to a page that opens later', async () => {
    const { connector } = startConnector('ws://127.0.0.1:9/unused');
    const stream = new InspectionStream({ clock: { now: Date.now } });
    const warnings: unknown[] = [];
    const host = withInspection(connector, stream);
    const inspector = await startInspector(host, {
      logger: { child: () => ({ warn: (...args: unknown[]) => warnings.push(args) }) } as never,
    });
    onTestFinished(() => inspector.close());
    const early = await openPage(inspector.url);
    // Created after the page opened: the page is told of the failure as it happens.
    const actor = createActor(hostMachine, { inspect: (event) => stream.inspect(event) }).start();
    onTestFinished(() => {
      actor.stop();
    });

    const failed = (await early.next((m) => m.type === 'chart.error')) as ChartErrorMessage;
    expect(failed.machine).toBe('host-machine');
    expect(failed.error).toMatch(/^elkjs is not installed \(.+\); run `npm install elkjs`$/);
    expect(warnings).toHaveLength(1);

    const late = await openPage(inspector.url);
    const snapshot = (await late.next((m) => m.type === 'snapshot')) as SnapshotMessage;
    expect(snapshot.chartErrors).toEqual([{ machine: 'host-machine', error: failed.error }]);
    expect(snapshot.actors.map((a) => a.machine)).toContain('host-machine');
  });
});

describe('the Stately inspector without @statelyai/inspect', () => {
  // Port 9 (discard) on loopback: nothing listens, so the client would only retry.
  const url = 'ws://127.0.0.1:9';

  it('stops, keeps the error, and hands it to onError once', async () => {
    const errors: Error[] = [];
    const client = createStatelyInspector({ url, onError: (error) => errors.push(error) });
    onTestFinished(() => client.stop());
    client.inspect({ type: '@xstate.event' } as InspectionEvent); // waits for the package, then is dropped
    await vi.waitFor(() => expect(errors).toHaveLength(1), { timeout: 60_000 });
    expect(errors[0]).toBeInstanceOf(MissingPackageError);
    expect(errors[0]!.message).toMatch(/^@statelyai\/inspect is not installed \(.+\); run `npm install @statelyai\/inspect`$/);
    expect(client.status).toBe('stopped');
    expect(client.error).toBe(errors[0]);
  });

  it('by default, says so in a process warning instead of throwing into the host', async () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    onTestFinished(() => warn.mockRestore());
    const client = createStatelyInspector({ url });
    onTestFinished(() => client.stop());
    await vi.waitFor(() => expect(warn).toHaveBeenCalledTimes(1), { timeout: 60_000 });
    expect(warn.mock.calls[0]![0]).toMatchObject({ name: 'MissingPackageError', packageName: '@statelyai/inspect' });
  });
});
