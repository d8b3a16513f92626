import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runToEnd } from './child.ts';

/** The repository root. */
export const REPO = fileURLToPath(new URL('../../', import.meta.url));

/** What `npm pack` must find built: every entry point of package.json's `exports`, and the CLI's. */
const BUILT = ['index', 'hub/index', 'protocol/index', 'testing/index']
  .flatMap((entry) => [`dist/${entry}.js`, `dist/${entry}.d.ts`])
  .concat('dist/cli/main.js');

/**
 * The environment for a child process: this one's without what `npm test` and vitest put there
 * for themselves (`npm_*`, which a nested npm would read as its own configuration, `NODE_OPTIONS`,
 * `VITEST*`), plus `extra`.
 */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^npm_/i.test(key) || key === 'NODE_OPTIONS' || key.startsWith('VITEST')) continue;
    env[key] = value;
  }
  // The CLI's `#!/usr/bin/env node` finds the node running these tests.
  env.PATH = `${dirname(process.execPath)}:${env.PATH ?? ''}`;
  return { ...env, ...extra };
}

/** A host project outside the repository, with the packed package installed as a user would. */
export interface ScratchProject {
  /** Its directory, under the system's temporary directory. */
  readonly dir: string;
  /** The tarball `npm pack` made of the repository. */
  readonly tarball: string;
  /** A path inside the project. */
  path(...parts: string[]): string;
  /** Writes a file into the project (directories made as needed); returns its path. */
  write(name: string, text: string): string;
  /** Deletes the project. */
  remove(): void;
}

/**
 * Packs the repository (`npm pack`, from the `dist/` that `pretest` built), creates an ES module
 * project under the system's temporary directory, and installs the tarball there with `packages`
 * (`npm install --prefer-offline`: npm's cache makes a repeat fast). Fails at once, saying to run
 * `npm run build`, when `dist/` is missing.
 *
 * @example
 * const project = await createScratchProject({ packages: ['typescript@5.9.3'], timeoutMs: 180_000 });
 * project.write('main.js', "import 'cloudtether';");
 */
export async function createScratchProject({ packages, timeoutMs }: { packages: string[]; timeoutMs: number }): Promise<ScratchProject> {
  const missing = BUILT.filter((file) => !existsSync(join(REPO, file)));
  if (missing.length > 0) throw new Error(`${missing.join(', ')} missing: run \`npm run build\` (npm test runs it first, in pretest)`);
  const dir = mkdtempSync(join(tmpdir(), 'cloudtether-consumer-'));
  const project: ScratchProject = {
    dir,
    tarball: '',
    path: (...parts) => join(dir, ...parts),
    write(name, text) {
      const file = join(dir, name);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, text);
      return file;
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
  try {
    const deadline = Date.now() + timeoutMs;
    const env = childEnv();
    // --ignore-scripts: `prepare` would build dist/ again (pretest just did).
    const packed = await runToEnd('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: REPO, env, timeoutMs });
    if (packed.code !== 0) throw new Error(`npm pack failed (${packed.code}):\n${packed.stderr}`);
    const [{ filename }] = JSON.parse(packed.stdout) as [{ filename: string }];
    project.write('package.json', `${JSON.stringify({ name: 'cloudtether-consumer', private: true, type: 'module' }, null, 2)}\n`);
    const installed = await runToEnd(
      'npm',
      ['install', `./${filename}`, ...packages, '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts'],
      { cwd: dir, env, timeoutMs: Math.max(1, deadline - Date.now()) },
    );
    if (installed.code !== 0) throw new Error(`npm install failed (${installed.code}):\n${installed.stderr}`);
    return { ...project, tarball: join(dir, filename) };
  } catch (error) {
    project.remove();
    throw error;
  }
}
