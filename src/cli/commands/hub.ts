import { readFileSync } from 'node:fs';
import { isLoopbackHost } from '../../http/client-address.ts';
import { createHub } from '../../hub/index.ts';
import type { Logger } from '../../log/logger.ts';
import type { CliValues } from './options.ts';
import { untilSignal } from './until-signal.ts';
import type { CliStreams } from './output.ts';

/**
 * `cloudtether hub [--port N] [--host H] [--token T] [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]]`:
 * TLS (wss:// and https:// on the port) with `--tls-cert` and `--tls-key`; a static token (`--token` or
 * `CLOUDTETHER_HUB_TOKEN`), an enrollment secret for device tokens
 * (`CLOUDTETHER_HUB_ENROLLMENT_SECRET`, for any device of one tenant: `--tenant-id`, else
 * `TENANT_ID`, else `local`), or both. The usage
 * ledger is kept in `CLOUDTETHER_HUB_LEDGER` (a file) when it is set, else in memory; the
 * settings documents likewise in `CLOUDTETHER_HUB_SETTINGS`. `CLOUDTETHER_HUB_ADMIN_TOKEN` puts the
 * operator routes (dispatch, devices, revoke, settings for operators, login approval, usage across
 * tenants) behind that bearer; without it they answer loopback clients only, and a `--host` beyond
 * loopback is refused (exit 2).
 * `--redis URL` (or `CLOUDTETHER_HUB_REDIS_URL`) keeps the hub's state in Redis instead
 * (docs/scaling.md); the ledger and settings files are then refused. Several nodes on one Redis
 * serve one fleet; `--node-id ID` (or `CLOUDTETHER_HUB_NODE_ID`) names this one, and
 * `CLOUDTETHER_HUB_REDIS_PREFIX` sets the prefix of their keys (the same on every node).
 */
export async function runHub(values: CliValues, { out, err }: CliStreams, logger: Logger): Promise<number> {
  const token = values.token ?? process.env.CLOUDTETHER_HUB_TOKEN;
  const enrollment = process.env.CLOUDTETHER_HUB_ENROLLMENT_SECRET;
  const adminToken = process.env.CLOUDTETHER_HUB_ADMIN_TOKEN;
  let users;
  try {
    users = process.env.CLOUDTETHER_HUB_USERS ? JSON.parse(process.env.CLOUDTETHER_HUB_USERS) : undefined;
  } catch {
    err.write('CLOUDTETHER_HUB_USERS is not JSON: [{"user_id":"alice","organizations":[{"id":"org-a","name":"Acme","role":"owner"}]}]\n');
    return 2;
  }
  if (!token && !enrollment && !users) {
    err.write(
      'the hub needs a static token (--token, CLOUDTETHER_HUB_TOKEN), an enrollment secret (CLOUDTETHER_HUB_ENROLLMENT_SECRET) or users (CLOUDTETHER_HUB_USERS)\n',
    );
    return 2;
  }
  const port = Number(values.port ?? 7070);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    err.write(`--port must be a port number, got ${values.port}\n`);
    return 2;
  }
  const host = values.host ?? '127.0.0.1';
  if (!adminToken && !isLoopbackHost(host)) {
    err.write(
      `refusing --host ${host} without CLOUDTETHER_HUB_ADMIN_TOKEN: the operator routes (dispatch, revoke, settings, approvals, usage) need an admin token on a hub reachable from other machines\n`,
    );
    return 2;
  }
  const tls = readTls(values, err);
  if (tls === null) return 2;
  const tenant = values['tenant-id'] ?? process.env.TENANT_ID ?? 'local';
  const redis = values.redis ?? (process.env.CLOUDTETHER_HUB_REDIS_URL || undefined);
  const nodeId = values['node-id'] ?? (process.env.CLOUDTETHER_HUB_NODE_ID || undefined);
  // A malformed users list is refused by the hub's own validation, as one line (HubError).
  const hub = createHub({
    ...(token && { staticToken: token }),
    ...(adminToken && { adminToken }),
    ...(tls && { tls }),
    ...((enrollment || users) && {
      tokens: { ...(enrollment && { deviceCredentials: [{ tenant_id: tenant, secret: enrollment }] }), ...(users && { users }) },
    }),
    // The usage ledger survives hub restarts when it has a file; on Redis everything does (the hub refuses both).
    ...(process.env.CLOUDTETHER_HUB_LEDGER && { usageLedgerPath: process.env.CLOUDTETHER_HUB_LEDGER }),
    ...(process.env.CLOUDTETHER_HUB_SETTINGS && { settingsPath: process.env.CLOUDTETHER_HUB_SETTINGS }),
    ...(redis && {
      engine: { redis, ...(process.env.CLOUDTETHER_HUB_REDIS_PREFIX && { keyPrefix: process.env.CLOUDTETHER_HUB_REDIS_PREFIX }) },
    }),
    ...(nodeId && { nodeId }),
    logger: logger.child({ component: 'hub' }),
  });
  hub.on('session_open', (s) =>
    out.write(
      `${line(values.json, { event: 'session_open', device_id: s.device_id, tenant_id: s.tenant_id, session_id: s.session_id })}\n`,
    ),
  );
  hub.on('session_close', (s, code, reason) =>
    out.write(`${line(values.json, { event: 'session_close', device_id: s.device_id, code, reason })}\n`),
  );
  const signal = untilSignal();
  try {
    const { url } = await hub.listen({ port, host });
    // The URL ends its own line: scripts take the rest of that line as the URL.
    if (redis) err.write(`hub node ${hub.nodeId}\n`);
    err.write(`hub listening on ${url}\n`);
    await signal;
  } finally {
    await hub.close();
    signal.cancel();
  }
  return 0;
}

/** The TLS files, read; undefined without `--tls-cert`; null (after saying why) when they are wrong. */
function readTls(values: CliValues, err: CliStreams['err']): { cert: string; key: string; clientCa?: string } | undefined | null {
  const { 'tls-cert': certFile, 'tls-key': keyFile, 'tls-client-ca': clientCaFile } = values;
  if (certFile === undefined && keyFile === undefined && clientCaFile === undefined) return undefined;
  if (certFile === undefined || keyFile === undefined) {
    err.write('--tls-cert and --tls-key go together\n');
    return null;
  }
  try {
    return {
      cert: readFileSync(certFile, 'utf8'),
      key: readFileSync(keyFile, 'utf8'),
      ...(clientCaFile !== undefined && { clientCa: readFileSync(clientCaFile, 'utf8') }),
    };
  } catch (error) {
    err.write(`cannot read the TLS files: ${(error as Error).message}\n`);
    return null;
  }
}

function line(json: boolean, fields: Record<string, unknown>): string {
  return json
    ? JSON.stringify(fields)
    : Object.entries(fields)
        .map(([k, v]) => `${k}=${String(v)}`)
        .join(' ');
}
