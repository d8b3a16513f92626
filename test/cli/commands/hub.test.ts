import { spawn } from 'node:child_process';
import { describe, expect, it, onTestFinished } from 'vitest';

const SECRET = 'enroll-cli-5e1b';

/** Runs `cloudtether hub --port 0 …args` (the built CLI, as a user runs it); resolves with its HTTP base once it listens. */
async function runHub(args: string[], env: Record<string, string | undefined>): Promise<string> {
  const child = spawn(process.execPath, ['bin/cloudtether.js', 'hub', '--port', '0', '--log-level', 'silent', ...args], {
    env: {
      ...process.env,
      CLOUDTETHER_HUB_TOKEN: '',
      CLOUDTETHER_HUB_USERS: '',
      TENANT_ID: undefined,
      CLOUDTETHER_HUB_ENROLLMENT_SECRET: SECRET,
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  onTestFinished(async () => {
    child.kill('SIGTERM');
    await exited;
  });
  let stderr = '';
  return new Promise((resolve, reject) => {
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
      const url = /hub listening on ws:\/\/([^/\s]+)\//.exec(stderr)?.[1];
      if (url) resolve(`http://${url}`);
    });
    child.once('exit', (code) => reject(new Error(`the hub exited (${code}): ${stderr}`)));
  });
}

async function tokenStatus(base: string, tenant: string): Promise<[number, unknown]> {
  const response = await fetch(`${base}/v1/device-token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ device_id: 'box-1', tenant_id: tenant, credential: SECRET }),
  });
  const body = (await response.json()) as Record<string, unknown>;
  return [response.status, response.ok ? Object.keys(body).sort() : body];
}

const issued: [number, unknown] = [200, ['access_token', 'expires_at', 'expires_in', 'token_type']];
const refused: [number, unknown] = [401, { error: 'invalid_credentials' }];

describe('cloudtether hub: the tenant of the enrollment secret', () => {
  it('is local by default', async () => {
    const base = await runHub([], {});
    expect(await tokenStatus(base, 'local')).toEqual(issued);
    expect(await tokenStatus(base, 'acme')).toEqual(refused);
  });

  it('is TENANT_ID when set, and --tenant-id over it', async () => {
    const [fromEnv, fromFlag] = await Promise.all([
      runHub([], { TENANT_ID: 'globex' }),
      runHub(['--tenant-id', 'acme'], { TENANT_ID: 'globex' }),
    ]);
    expect(await tokenStatus(fromEnv, 'globex')).toEqual(issued);
    expect(await tokenStatus(fromEnv, 'local')).toEqual(refused);

    expect(await tokenStatus(fromFlag, 'acme')).toEqual(issued);
    expect(await tokenStatus(fromFlag, 'globex')).toEqual(refused);
    expect(await tokenStatus(fromFlag, 'local')).toEqual(refused);
  });
});

/** Runs `cloudtether hub` to its exit; resolves with its exit code and what it wrote to stderr. */
function runToExit(args: string[], env: Record<string, string | undefined>): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, ['bin/cloudtether.js', 'hub', '--port', '0', '--log-level', 'silent', ...args], {
    env: { ...process.env, CLOUDTETHER_HUB_TOKEN: '', CLOUDTETHER_HUB_USERS: '', CLOUDTETHER_HUB_ENROLLMENT_SECRET: SECRET, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stderr })));
}

describe('cloudtether hub: operator access', () => {
  it('refuses a host beyond loopback without an admin token, in one line', async () => {
    const { code, stderr } = await runToExit(['--host', '0.0.0.0'], { CLOUDTETHER_HUB_ADMIN_TOKEN: '' });
    expect(code).toBe(2);
    expect(stderr.trim().split('\n')).toEqual([expect.stringMatching(/^refusing --host 0\.0\.0\.0 without CLOUDTETHER_HUB_ADMIN_TOKEN: /)]);
  });

  it('listens beyond loopback with an admin token, and on loopback without one', async () => {
    const [open, local] = await Promise.all([
      runHub(['--host', '0.0.0.0'], { CLOUDTETHER_HUB_ADMIN_TOKEN: 'admin-cli-7c2d' }),
      runHub(['--host', 'localhost'], { CLOUDTETHER_HUB_ADMIN_TOKEN: '' }),
    ]);
    expect(open).toMatch(/^http:\/\/0\.0\.0\.0:\d+$/);
    const devices = await fetch(`${local}/v1/devices`);
    expect(devices.status).toBe(200);
  });
});
