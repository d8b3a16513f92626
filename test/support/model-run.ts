import { appendFileSync, mkdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import fc from 'fast-check';
import { expect } from 'vitest';

/**
 * How many runs and which seed a model-based test uses, printed so any failure can be replayed.
 *
 * - `FC_RUNS` multiplies nothing: it is the run count itself (CI uses each test's default,
 *   `npm run explore` sets it higher).
 * - `FC_SEED` fixes the seed; `FC_SEED=random` (what `npm run explore` uses) draws a new one.
 *   Without it, CI runs a fixed seed so a red build is reproducible on any machine.
 * - `FC_PATH` (with `FC_REPLAY_PATH` for command lists, see {@link commandOptions}) replays one
 *   counterexample directly.
 *
 * A failure ends with one line that replays it, also written to `EXPLORE_OUT` for
 * `npm run explore` to repeat at the end (see {@link reproduceLine}).
 */
export function modelRunParameters(
  name: string,
  defaultRuns: number,
): { numRuns: number; seed: number; path?: string; verbose: 1; reporter: <Ts>(details: fc.RunDetails<Ts>) => void } {
  const fixed = 20261121;
  const raw = process.env.FC_SEED;
  const seed = raw === 'random' ? (Date.now() ^ (Math.random() * 0x7fffffff)) | 0 : raw === undefined ? fixed : Number(raw);
  const numRuns = Number(process.env.FC_RUNS ?? defaultRuns);
  const path = process.env.FC_PATH;
  console.log(`${name}: seed ${seed}, ${numRuns} runs (replay: FC_SEED=${seed})`);
  // A reporter replaces fast-check's throwing one: this one throws the same error, plus the line.
  const reporter = <Ts>(details: fc.RunDetails<Ts>): void => {
    if (!details.failed) return;
    const line = reproduceLine(details, numRuns);
    const out = process.env.EXPLORE_OUT;
    if (out !== undefined) {
      mkdirSync(out, { recursive: true });
      appendFileSync(join(out, `failure-${process.pid}.txt`), `${name}: ${line}\n`);
    }
    throw new Error(`${fc.defaultReportMessage(details) ?? 'Property failed'}\n\n${line}`, { cause: details.errorInstance });
  };
  return { numRuns, seed, ...(path !== undefined && { path }), verbose: 1, reporter };
}

/**
 * `reproduce: FC_SEED=… FC_RUNS=… FC_PATH=… FC_REPLAY_PATH=… npx vitest run <file> -t <test>`: the
 * failing run of the current test, shrunk, in one command. The replay path is the one fast-check
 * prints inside a command list (`/*replayPath="…"*\/`); without it the path alone cannot rebuild
 * the commands.
 */
export function reproduceLine<Ts>(details: fc.RunDetails<Ts>, numRuns: number): string {
  const { testPath, currentTestName } = expect.getState();
  const args = Array.isArray(details.counterexample) ? (details.counterexample as unknown[]) : [];
  const replayPath = args.map(replayPathOf).find((found) => found !== undefined);
  const env = [
    `FC_SEED=${details.seed}`,
    `FC_RUNS=${numRuns}`,
    ...(details.counterexamplePath !== null ? [`FC_PATH=${shellQuote(details.counterexamplePath)}`] : []),
    ...(replayPath !== undefined ? [`FC_REPLAY_PATH=${shellQuote(replayPath)}`] : []),
  ];
  const file = testPath === undefined ? '<test file>' : relative(process.cwd(), testPath);
  // vitest matches -t against the suite and test names joined by spaces, as a regular expression.
  const test =
    currentTestName === undefined
      ? ''
      : ` -t ${shellQuote(
          `^${currentTestName
            .split(' > ')
            .join(' ')
            .replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`,
        )}`;
  return `reproduce: ${env.join(' ')} npx vitest run ${file}${test}`;
}

/** The `replayPath` of a command list made by `fc.commands`, read from its replay metadata. */
function replayPathOf(value: unknown): string | undefined {
  const metadata = (value as { metadataForReplay?: unknown } | null)?.metadataForReplay;
  if (typeof metadata !== 'function') return undefined;
  const found = /replayPath=("(?:[^"\\]|\\.)*")/.exec(String(metadata.call(value)));
  return found ? (JSON.parse(found[1]!) as string) : undefined;
}

const shellQuote = (text: string): string => (/^[\w:/=.,+-]+$/.test(text) ? text : `'${text.replaceAll("'", `'\\''`)}'`);

/**
 * Options for `fc.commands`: the test's own, plus the `replayPath` of a counterexample
 * (`FC_REPLAY_PATH`), without which fast-check cannot rebuild a shrunk command list from its path.
 */
export function commandOptions(options: fc.CommandsContraints): fc.CommandsContraints {
  const replayPath = process.env.FC_REPLAY_PATH;
  return { ...options, ...(replayPath !== undefined && { replayPath }) };
}

/**
 * Commands by name, so directed examples read as lists of the names a shrunk counterexample
 * prints.
 *
 * @example
 * const names = new CommandNames<Command>();
 * const connect = names.add('host: connect', makeCommand(...));
 * const example = names.sequence('host: connect', 'hub: ack');
 */
export class CommandNames<C> {
  readonly #byName = new Map<string, C>();

  /** Registers `command` under `name` and returns it. */
  add<T extends C>(name: string, command: T): T {
    this.#byName.set(name, command);
    return command;
  }

  /** The commands of these names, in order. An unknown name is a typo in the test: it throws. */
  readonly sequence = (...names: string[]): C[] =>
    names.map((name) => {
      const command = this.#byName.get(name);
      if (!command) throw new Error(`no command named '${name}'`);
      return command;
    });
}
