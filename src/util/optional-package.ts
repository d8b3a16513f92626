/**
 * A package the library loads only for an optional feature (`elkjs`, `@statelyai/inspect`; both
 * optional peer dependencies in package.json) is not installed.
 *
 * @example
 * if (error instanceof MissingPackageError) console.error(error.message);
 * // elkjs is not installed (the inspector needs it to lay out …); run `npm install elkjs`
 */
export class MissingPackageError extends Error {
  override readonly name = 'MissingPackageError';
  /** Always `'ERR_CLOUDTETHER_MISSING_PACKAGE'`, for a host that cannot reach the class. */
  readonly code = 'ERR_CLOUDTETHER_MISSING_PACKAGE';
  /** The package to install (`elkjs`). */
  readonly packageName: string;
  /** The command that installs it (`npm install elkjs`). */
  readonly install: string;

  /** `neededBy` says what wanted it, as a clause: `the inspector needs it to lay out …`. */
  constructor(packageName: string, neededBy: string, options?: { cause?: unknown }) {
    const install = `npm install ${packageName}`;
    super(`${packageName} is not installed (${neededBy}); run \`${install}\``, options);
    this.packageName = packageName;
    this.install = install;
  }
}

/**
 * Runs `load` (a dynamic `import()` of `packageName` or one of its files) and turns "module not
 * found" for that package into a {@link MissingPackageError}; any other failure (a package that
 * is there but broken, one of its own dependencies missing) is rethrown as it is.
 *
 * `load` is a callback with a literal specifier, not a name, so that a bundler sees the import
 * and a host can mark the package external (docs/inspector.md, "Bundling").
 *
 * @example
 * const elk = await importOptional('elkjs', 'the inspector needs it to lay out a statechart', () => import('elkjs/lib/elk.bundled.js'));
 */
export async function importOptional<T>(packageName: string, neededBy: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (error) {
    if (isNotFound(error, packageName)) throw new MissingPackageError(packageName, neededBy, { cause: error });
    throw error;
  }
}

/**
 * Node says `ERR_MODULE_NOT_FOUND` (an ES import) or `MODULE_NOT_FOUND` (a require, as a CommonJS
 * bundle turns the import into), naming the specifier it could not find.
 */
function isNotFound(error: unknown, packageName: string): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') return false;
  return error.message.includes(`'${packageName}'`) || error.message.includes(`'${packageName}/`);
}
