import type fc from 'fast-check';

/**
 * How many runs and which seed a model-based test uses, printed so any failure can be replayed.
 *
 * - `FC_RUNS` multiplies nothing: it is the run count itself (CI uses each test's default,
 *   `npm run explore` sets it higher).
 * - `FC_SEED` fixes the seed; `FC_SEED=random` (what `npm run explore` uses) draws a new one.
 *   Without it, CI runs a fixed seed so a red build is reproducible on any machine.
 *
 * fast-check prints the seed, the path and the shrunk command list of a failure; rerun it with
 * `FC_SEED=<seed> npx vitest run <file>`. To skip straight to the shrunk case, add
 * `FC_PATH=<path>` and, for command lists, `FC_REPLAY_PATH=<the replayPath in the counterexample>`
 * (fast-check needs both: see {@link commandOptions}).
 */
export function modelRunParameters(name: string, defaultRuns: number): { numRuns: number; seed: number; path?: string; verbose: 1 } {
  const fixed = 20261121;
  const raw = process.env.FC_SEED;
  const seed = raw === 'random' ? (Date.now() ^ (Math.random() * 0x7fffffff)) | 0 : raw === undefined ? fixed : Number(raw);
  const numRuns = Number(process.env.FC_RUNS ?? defaultRuns);
  const path = process.env.FC_PATH;
  console.log(`${name}: seed ${seed}, ${numRuns} runs (replay: FC_SEED=${seed})`);
  return { numRuns, seed, ...(path !== undefined && { path }), verbose: 1 };
}

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
