import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { connectConfig } from '../../../src/cli/commands/connect.ts';
import { main } from '../../../src/cli/main.ts';

let dir: string;
const saved = { ...process.env };
afterEach(async () => {
  for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
  Object.assign(process.env, saved);
  await rm(dir, { recursive: true, force: true });
});

async function cli(args: string[], stdin?: string) {
  const out = new PassThrough();
  const err = new PassThrough();
  let text = '';
  let errors = '';
  out.on('data', (c) => (text += c));
  err.on('data', (c) => (errors += c));
  if (stdin !== undefined) {
    const original = Object.getOwnPropertyDescriptor(process, 'stdin')!;
    const fake = new PassThrough();
    fake.end(stdin);
    Object.defineProperty(process, 'stdin', { value: fake, configurable: true });
    try {
      return { code: await main(args, { out, err }), out: text, err: errors };
    } finally {
      Object.defineProperty(process, 'stdin', original);
    }
  }
  return { code: await main(args, { out, err }), out: text, err: errors };
}

describe('CLI state: device identity and enrolled credential', () => {
  it('enrolls a credential sealed, 0600, and connect finds it with a device id it keeps', async () => {
    dir = await mkdtemp(join(tmpdir(), 'cloudtether-cli-'));
    const key = randomBytes(32).toString('base64');
    process.env.CLOUDTETHER_STATE_KEY = key;
    process.env.CLOUD_DEVICE_CREDENTIAL = '';
    const enrolled = await cli(['enroll', '--state-dir', dir], 'enrollment-secret-value\n');
    expect(enrolled).toMatchObject({ code: 0, out: `device credential stored in ${dir} (sealed)\n` });
    expect((await stat(join(dir, 'device_credential'))).mode & 0o777).toBe(0o600);
    expect(await readFile(join(dir, 'device_credential'), 'utf8')).not.toContain('enrollment-secret-value');

    const env = { CLOUD_WS_URL: 'ws://127.0.0.1:7070/v1/connect', CLOUDTETHER_STATE_KEY: key };
    const { config: first } = await connectConfig({ json: false, help: false, once: false, 'state-dir': dir }, env);
    expect(first).toMatchObject({ url: env.CLOUD_WS_URL, credential: 'enrollment-secret-value' });
    expect(first.deviceId).toMatch(/^dev_[0-9a-f]{32}$/);
    const { config: second } = await connectConfig({ json: false, help: false, once: false, 'state-dir': dir }, env);
    expect(second.deviceId).toBe(first.deviceId);
  });

  it('prefers the flag, then DEVICE_ID, and a static token over the enrolled credential', async () => {
    dir = await mkdtemp(join(tmpdir(), 'cloudtether-cli-'));
    const base = { json: false, help: false, once: false, 'state-dir': dir };
    const env = { CLOUD_WS_URL: 'ws://h/v1/connect', DEVICE_ID: 'from-env', CLOUD_TOKEN: 'static' };
    expect((await connectConfig({ ...base, 'device-id': 'from-flag' }, env)).config).toMatchObject({
      deviceId: 'from-flag',
      token: 'static',
    });
    const { config: fromEnv } = await connectConfig(base, env);
    expect(fromEnv).toMatchObject({ deviceId: 'from-env', token: 'static' });
    expect(fromEnv.credential).toBeUndefined();
  });

  it('touches no state directory in standalone mode', async () => {
    dir = join(await mkdtemp(join(tmpdir(), 'cloudtether-cli-')), 'state');
    expect((await connectConfig({ json: false, help: false, once: false, 'state-dir': dir }, {})).config).toEqual({});
    expect(existsSync(dir)).toBe(false);
  });

  it('refuses to start on a corrupt device id file, naming it, in one line', async () => {
    dir = await mkdtemp(join(tmpdir(), 'cloudtether-cli-'));
    await writeFile(join(dir, 'device_id'), 'not a valid id\n');
    process.env.CLOUD_WS_URL = 'ws://127.0.0.1:9/v1/connect';
    process.env.CLOUD_TOKEN = 't';
    process.env.DEVICE_ID = '';
    const { code, err } = await cli(['connect', '--state-dir', dir, '--log-level', 'silent']);
    expect(code).toBe(1);
    expect(err.trim().split('\n')).toEqual([
      `cloudtether connect: ${join(dir, 'device_id')}: does not hold a valid device id; fix or remove it (removing it gives this device a new identity)`,
    ]);
  });

  it('refuses to enroll nothing', async () => {
    dir = await mkdtemp(join(tmpdir(), 'cloudtether-cli-'));
    process.env.CLOUD_DEVICE_CREDENTIAL = '';
    expect(await cli(['enroll', '--state-dir', dir], '')).toMatchObject({ code: 2 });
  });
});
