import { describe, expect, it, vi } from 'vitest';
import { createHub } from '../../../src/hub/index.ts';

/*
 * ioredis is an optional peer dependency: a host that embeds only the connector does not install
 * it. It is installed in this repository, so its import is made to fail as Node fails an import
 * of a package that is not there.
 */
vi.mock('../../../src/util/optional-package.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../../src/util/optional-package.ts')>();
  const notInstalled = Object.assign(new Error("Cannot find package 'ioredis' imported from /app/dist/hub/engine/redis/redis-client.js"), {
    code: 'ERR_MODULE_NOT_FOUND',
  });
  return {
    ...real,
    importOptional: <T>(name: string, neededBy: string, load: () => Promise<T>) =>
      real.importOptional(name, neededBy, name === 'ioredis' ? () => Promise.reject(notInstalled) : load),
  };
});

describe('a hub on Redis without ioredis installed', () => {
  it('fails listen() with MissingPackageError, which names the command that installs it', async () => {
    const hub = createHub({ staticToken: 't', engine: { redis: 'redis://127.0.0.1:9' } });
    const error = await hub.listen({ port: 0, host: '127.0.0.1' }).catch((e: unknown) => e);
    await hub.close();
    expect(error).toMatchObject({ name: 'MissingPackageError', packageName: 'ioredis', install: 'npm install ioredis' });
    expect((error as Error).message).toMatch(
      /^ioredis is not installed \(a hub keeps its state in Redis through it .*\); run `npm install ioredis`$/,
    );
  });
});
