import { spawn } from 'node:child_process';
import { describe, expect, it, onTestFinished } from 'vitest';
import { startRedis, startRedisOfVersion } from '../../support/redis-server.ts';

const SECRET = 'enroll-cli-redis-7a2c';
const ENV = {
  CLOUDTETHER_HUB_TOKEN: '',
  CLOUDTETHER_HUB_USERS: '',
  CLOUDTETHER_HUB_REDIS_URL: '',
  CLOUDTETHER_HUB_REDIS_PREFIX: '',
  CLOUDTETHER_HUB_ENROLLMENT_SECRET: SECRET,
};

/** Runs `cloudtether hub --port 0 …args` (the built CLI); resolves with its HTTP base once it listens, or its exit code and stderr. */
function runHub(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ base: string; stop: () => Promise<void>; stderr: () => string } | { code: number | null; stderr: string }> {
  const child = spawn(process.execPath, ['bin/cloudtether.js', 'hub', '--port', '0', '--log-level', 'silent', ...args], {
    env: { ...process.env, ...ENV, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const stop = async () => {
    child.kill('SIGTERM');
    await exited;
  };
  onTestFinished(stop);
  let stderr = '';
  return new Promise((resolve) => {
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
      const host = /hub listening on ws:\/\/([^/\s]+)\//.exec(stderr)?.[1];
      if (host) resolve({ base: `http://${host}`, stop, stderr: () => stderr });
    });
    void exited.then((code) => resolve({ code, stderr }));
  });
}

async function kids(base: string): Promise<string[]> {
  const { keys } = (await (await fetch(`${base}/.well-known/jwks.json`)).json()) as { keys: Array<{ kid: string }> };
  return keys.map((key) => key.kid);
}

describe('cloudtether hub --redis', () => {
  it("keeps the hub on Redis: a second run signs with the first run's key (also from CLOUDTETHER_HUB_REDIS_URL)", async () => {
    const redis = await startRedis();
    const first = await runHub(['--redis', redis.url]);
    if (!('base' in first)) throw new Error(`the hub did not start: ${first.stderr}`);
    const kept = await kids(first.base);
    expect(kept).toHaveLength(1);
    await first.stop();
    const second = await runHub([], { CLOUDTETHER_HUB_REDIS_URL: redis.url });
    if (!('base' in second)) throw new Error(`the hub did not start: ${second.stderr}`);
    expect(await kids(second.base)).toEqual(kept);
  });

  it('keeps its keys under CLOUDTETHER_HUB_REDIS_PREFIX: two fleets on one Redis sign with keys of their own', async () => {
    const redis = await startRedis();
    const east = await runHub(['--redis', redis.url], { CLOUDTETHER_HUB_REDIS_PREFIX: 'fleet-east:' });
    if (!('base' in east)) throw new Error(`the hub did not start: ${east.stderr}`);
    const west = await runHub(['--redis', redis.url], { CLOUDTETHER_HUB_REDIS_PREFIX: 'fleet-west:' });
    if (!('base' in west)) throw new Error(`the hub did not start: ${west.stderr}`);
    const [eastKids, westKids] = [await kids(east.base), await kids(west.base)];
    expect(eastKids).toHaveLength(1);
    expect(westKids).toHaveLength(1);
    expect(westKids).not.toEqual(eastKids);
    const { Redis } = await import('ioredis');
    const client = new Redis(redis.url);
    onTestFinished(() => void client.disconnect());
    expect((await client.keys('fleet-east:*')).length).toBeGreaterThan(0);
    expect(await client.keys('cloudtether:*')).toEqual([]);
  });

  it('names its node: --node-id, else CLOUDTETHER_HUB_NODE_ID, else node_<random>; a bad id is refused in one line', async () => {
    const redis = await startRedis();
    const named = await runHub(['--redis', redis.url, '--node-id', 'eu-1'], { CLOUDTETHER_HUB_NODE_ID: 'ignored' });
    if (!('base' in named)) throw new Error(`the hub did not start: ${named.stderr}`);
    expect(named.stderr()).toMatch(/^hub node eu-1\nhub listening on ws:\/\//m);
    const fromEnv = await runHub(['--redis', redis.url], { CLOUDTETHER_HUB_NODE_ID: 'eu-2' });
    if (!('base' in fromEnv)) throw new Error(`the hub did not start: ${fromEnv.stderr}`);
    expect(fromEnv.stderr()).toContain('hub node eu-2\n');
    const generated = await runHub(['--redis', redis.url]);
    if (!('base' in generated)) throw new Error(`the hub did not start: ${generated.stderr}`);
    expect(generated.stderr()).toMatch(/hub node node_[0-9a-f]{8}\n/);
    const bad = await runHub(['--redis', redis.url, '--node-id', 'eu 1|x']);
    if ('base' in bad) throw new Error('a node id with a space and a bar was taken');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/nodeId/);
  });

  it('says in one line what is wrong: a bad URL, a Redis that refuses, a Redis too old', async () => {
    const refusing = await startRedis();
    await refusing.stop();
    const old = await startRedisOfVersion('6.0.16');
    const [bad, down, tooOld, withFile] = await Promise.all([
      runHub(['--redis', 'localhost:6379']),
      runHub(['--redis', refusing.url]),
      runHub([], { CLOUDTETHER_HUB_REDIS_URL: old.url }),
      runHub(['--redis', refusing.url], { CLOUDTETHER_HUB_LEDGER: '/tmp/ledger.log' }),
    ]);
    expect(bad).toEqual({
      code: 1,
      stderr: 'cloudtether hub: invalid_options: invalid Redis URL localhost:6379: the scheme must be redis:// or rediss://\n',
    });
    expect(down).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(
        new RegExp(`^cloudtether hub: engine_unavailable: cannot reach Redis at ${refusing.url}: connect ECONNREFUSED [^\\n]+\\n$`),
      ),
    });
    expect(tooOld).toEqual({
      code: 1,
      stderr: `cloudtether hub: engine_unavailable: Redis at ${old.url} is 6.0.16; the hub needs Redis 6.2.0 or newer\n`,
    });
    expect(withFile).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(
        /^cloudtether hub: invalid_options: invalid hub options: usageLedgerPath and settingsPath are files of the memory engine[^\n]*\n$/,
      ),
    });
  });
});
