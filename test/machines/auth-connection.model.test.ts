import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { HttpError, type HttpAdapter, type HttpResponse } from '../../src/adapters/http.ts';
import { createMemoryNetwork, type MemoryPeer } from '../../src/adapters/memory-socket.ts';
import type { SocketAdapter } from '../../src/adapters/socket.ts';
import { createConnector, type Connector } from '../../src/connector/connector.ts';
import { authMachine } from '../../src/machines/auth.ts';
import { connectionMachine } from '../../src/machines/connection.ts';
import { createMemoryStorage } from '../../src/adapters/storage.ts';
import { createSecretStore } from '../../src/storage/secret-store.ts';
import { flush } from '../support/harness.ts';
import { CommandNames, commandOptions, modelRunParameters } from '../support/model-run.ts';
import { createTransitionCoverage } from '../support/transition-coverage.ts';
import { frame as encode } from '../support/frames.ts';
import { directedExamples, type Mode } from './auth-connection.examples.ts';

/*
 * Model-based test of the auth machine together with the connection machine, through the real
 * connector: random interleavings of clock advances, token endpoint outcomes, socket drops,
 * hub refusals, expiries, sleeps and host calls. After every step:
 *   1. never more than one token fetch in flight;
 *   2. never a `connect` with a token that has expired;
 *   3. unauthorized only after a definitive answer (401, revoked, a static token's expiry, or
 *      the hub refusing two tokens in a row);
 *   4. the token of a live session has not expired (refreshed in time, whatever the schedule);
 *   5. never two live sockets.
 * Runs: FC_RUNS (default 200), seed: FC_SEED (printed; see support/model-run.ts). MODEL_DEBUG=1 traces commands and states.
 * Directed examples walk into windows that random runs seldom reach; the last test checks that
 * every transition of the auth machine ran.
 */

const START = 1_800_000_000_000;
const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
/** A JWT-shaped token with an `exp` (unsigned: the connector only decodes it). */
const jwt = (expMs: number, n: number) => `${b64({ alg: 'ES256' })}.${b64({ exp: Math.floor(expMs / 1000), jti: `t${n}` })}.c2ln`;
const claimsOf = (token: string) =>
  JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { exp: number; tenant?: string };
const expOf = (token: string) => claimsOf(token).exp * 1000;

const authCoverage = createTransitionCoverage(authMachine, 'auth');
const connectionCoverage = createTransitionCoverage(connectionMachine, 'connection');

interface Model {
  /** The token endpoint said something definitive (401, revoked): unauthorized is allowed. */
  definitive: boolean;
}

const ORGS = [
  { id: 'org-a', name: 'Acme', role: 'owner' },
  { id: 'org-b', name: 'Globex', role: 'member' },
];

class World {
  readonly clock = new SimulatedClock();
  slept = 0;
  readonly net = createMemoryNetwork();
  readonly pending: Array<{ path: string; resolve: (r: HttpResponse) => void; reject: (e: unknown) => void; done: boolean }> = [];
  /** User mode: the organization the next token is for. */
  organization = ORGS[0]!;
  /** User mode: logged-out states are allowed (never logged in, or a logout or ended session since). */
  loggedOutAllowed = true;
  inFlight = 0;
  violations: string[] = [];
  tokens = 0;
  refuseNextConnect = false;
  /** Hub refusals of a token since the hub last accepted one. */
  refusalsInARow = 0;
  readonly staticExpiry: number | undefined;
  readonly connector: Connector;

  /** `staticLifetimeMs`: null for a static token that never expires; may be negative (expired). */
  constructor(
    readonly mode: Mode,
    staticLifetimeMs: number | null,
    storedSession = false,
  ) {
    this.staticExpiry = staticLifetimeMs === null ? undefined : START + staticLifetimeMs;
    this.clock.set(START);
    const now = () => this.clock.now() + this.slept;
    const http: HttpAdapter = {
      request: ({ signal, url }) =>
        new Promise((resolve, reject) => {
          // Settings sync shares the adapter; this model is about the token endpoint only.
          if (new URL(url).pathname.startsWith('/v1/settings')) return resolve({ status: 404, headers: {}, body: undefined });
          if (this.inFlight > 0) this.violations.push('a second token fetch started while one was in flight');
          this.inFlight++;
          const entry = { path: new URL(url).pathname, resolve, reject, done: false };
          const finish = () => {
            if (!entry.done) this.inFlight--;
            entry.done = true;
          };
          entry.resolve = (r) => (finish(), resolve(r));
          entry.reject = (e) => (finish(), reject(e));
          signal?.addEventListener('abort', () => entry.reject(new HttpError('aborted', 'aborted')));
          this.pending.push(entry);
        }),
    };
    // The client's side of the socket, watched: every `connect` must carry a live token.
    const adapter: SocketAdapter = {
      open: (url, handlers, options) => {
        const conn = this.net.adapter.open(url, handlers, options);
        return {
          ...conn,
          get bufferedAmount() {
            return conn.bufferedAmount;
          },
          send: (data: string) => {
            const frame = JSON.parse(data);
            if (frame.type === 'connect' && this.mode !== 'none') {
              const exp = expiryOf(frame.token);
              if (exp !== undefined && exp <= now()) this.violations.push(`connect with a token expired ${now() - exp} ms ago`);
              // A user token is for one organization: the connection must go to that tenant.
              const tenant = frame.token === 'static-token' ? undefined : claimsOf(frame.token).tenant;
              if (tenant !== undefined && tenant !== frame.tenant_id)
                this.violations.push(`connect to tenant ${frame.tenant_id} with a token for ${tenant}`);
            }
            conn.send(data);
          },
          close: (code?: number, reason?: string) => conn.close(code, reason),
          terminate: () => conn.terminate(),
        };
      },
    };
    const expiryOf = (token: string) => (token === 'static-token' ? this.staticExpiry : expOf(token));
    // The hub: accepts, refuses on demand, enforces expiry, answers heartbeats.
    this.net.onConnection = (peer) => {
      peer.accept();
      this.watch(peer, now, expiryOf);
    };
    const base = { url: 'ws://hub.test/v1/connect', deviceId: 'dev-1', seed: 11, backoff: { suspendAfterMs: 600_000 } };
    const config =
      mode === 'device'
        ? { ...base, credential: 'secret' }
        : mode === 'user'
          ? { ...base, userLogin: true }
          : mode === 'static'
            ? { ...base, token: 'static-token', ...(this.staticExpiry !== undefined && { tokenExpiresAt: this.staticExpiry }) }
            : {};
    this.loggedOutAllowed = !storedSession;
    this.connector = createConnector(config, {
      socket: adapter,
      http,
      secrets: createSecretStore(createMemoryStorage(storedSession ? { refresh_token: 'rt0' } : {})),
      clock: { now, setTimeout: (fn, ms) => this.clock.setTimeout(fn, ms), clearTimeout: (id) => this.clock.clearTimeout(id as number) },
      inspect: (event) => {
        authCoverage.inspect(event);
        connectionCoverage.inspect(event);
      },
    });
  }

  private watch(peer: MemoryPeer, now: () => number, expiry: (token: string) => number | undefined) {
    let seen = 0;
    const poll = () => {
      if (peer.state !== 'open') return;
      for (; seen < peer.received.length; seen++) {
        const frame = JSON.parse(peer.received[seen]!);
        if (frame.type === 'connect') {
          if (this.refuseNextConnect) {
            this.refuseNextConnect = false;
            this.refusalsInARow++;
            peer.close(4001, 'auth_failed');
            return;
          }
          const exp = expiry(frame.token);
          if (this.mode !== 'none' && exp !== undefined && exp <= now()) {
            this.refusalsInARow++;
            peer.close(4002, 'token_expired');
            return;
          }
          this.refusalsInARow = 0;
          peer.send(
            encode({
              type: 'connect_ack',
              session_id: `s${this.net.peers.length}`,
              heartbeat_interval_ms: 25_000,
              heartbeat_timeout_ms: 10_000,
              server_time: now(),
              max_frame_bytes: 1 << 20,
            }),
          );
        } else if (frame.type === 'heartbeat') {
          peer.send(encode({ type: 'heartbeat_ack', seq: frame.seq, server_time: now() }));
        } else if (frame.type === 'auth_refresh') {
          this.refusalsInARow = 0;
          peer.send(encode({ type: 'auth_refresh_ack', expires_at: expOf(frame.token) }));
        }
      }
      queueMicrotask(poll);
    };
    queueMicrotask(poll);
  }

  async settle() {
    for (let i = 0; i < 4; i++) await flush();
  }
}

type Command = fc.AsyncCommand<Model, World>;

/** Every command made, by name, so directed examples can be written as lists of names. */
const names = new CommandNames<Command>();

const cmd = (
  name: string,
  check: (m: Readonly<Model>, w?: World) => boolean,
  run: (m: Model, w: World) => Promise<void> | void,
): Command => {
  const command: Command = {
    check: (m) => check(m),
    async run(m, w) {
      if (process.env.MODEL_DEBUG) console.log('  >', name);
      await run(m, w);
      await w.settle();
      checkInvariants(m, w);
    },
    toString: () => name,
  };
  return names.add(name, command);
};

function checkInvariants(m: Model, w: World) {
  expect(w.violations).toEqual([]);
  if (w.mode === 'user' && w.connector.status.auth.state === 'logged_out') {
    expect(w.loggedOutAllowed, `logged out (${w.connector.status.auth.reason}) with no logout, denial or ended session`).toBe(true);
  }
  if (w.mode === 'user' && w.connector.status.auth.state === 'valid') w.loggedOutAllowed = false;
  const status = w.connector.status;
  const now = w.clock.now() + w.slept;
  if (status.auth.state === 'unauthorized') {
    const staticExpired = status.auth.reason === 'static_token_expired' && w.staticExpiry !== undefined && now >= w.staticExpiry;
    expect(m.definitive || w.refusalsInARow >= 2 || staticExpired, `unauthorized (${status.auth.reason}) without a definitive answer`).toBe(
      true,
    );
  }
  // A live session's token is refreshed before it expires (an idle one may lapse: it is
  // refreshed on demand when the next attempt asks).
  if (status.auth.state === 'valid' && status.connection.state === 'connected' && status.auth.expiresAt !== undefined) {
    expect(status.auth.expiresAt, 'the token of a live session has expired').toBeGreaterThan(now);
  }
  expect(w.net.live()).toBeLessThanOrEqual(1);
}

const authContext = (w: World) =>
  (
    w.connector.actor.system.get('auth') as
      { getSnapshot(): { context: { refreshAt?: number; retryInMs?: number; grant?: { expiresAt?: number } } } } | undefined
  )?.getSnapshot().context;

const respond = (w: World, response: HttpResponse | Error, path?: string) => {
  const next = w.pending.find((p) => !p.done && (path === undefined || p.path === path));
  if (!next) return;
  if (response instanceof Error) next.reject(response);
  else next.resolve(response);
};
const hasPending = (w: World, path?: string) => w.pending.some((p) => !p.done && (path === undefined || p.path === path));

function commands(world: () => World) {
  const token = (lifetimeMs: number) =>
    cmd(
      `token ok (${lifetimeMs} ms)`,
      () => hasPending(world()),
      (_m, w) => {
        const next = w.pending.find((p) => !p.done)!;
        if (next.path === '/v1/oauth/device_authorization') {
          return respond(w, {
            status: 200,
            headers: {},
            body: {
              device_code: 'dc',
              user_code: 'ABCD-EFGH',
              verification_uri: 'http://hub.test/v1/oauth/verify',
              expires_in: 600,
              interval: 5,
            },
          });
        }
        const exp = w.clock.now() + w.slept + lifetimeMs;
        if (w.mode !== 'user') return respond(w, { status: 200, headers: {}, body: { access_token: jwt(exp, ++w.tokens) } });
        const access = `${b64({ alg: 'ES256' })}.${b64({ exp: Math.floor(exp / 1000), jti: `t${++w.tokens}`, tenant: w.organization.id })}.c2ln`;
        respond(w, {
          status: 200,
          headers: {},
          body: { access_token: access, refresh_token: `rt${w.tokens}`, user_id: 'u-1', organization: w.organization, organizations: ORGS },
        });
      },
    );
  const fail = (name: string, response: () => HttpResponse | Error, definitive = false) =>
    cmd(
      `token ${name}`,
      () => hasPending(world()),
      (m, w) => {
        if (definitive) m.definitive = true;
        respond(w, response());
      },
    );
  const transient = fc.constantFrom(
    fail('429', () => ({ status: 429, headers: {}, body: undefined })),
    fail('429 retry-after 20', () => ({ status: 429, headers: { 'retry-after': '20' }, body: undefined })),
    fail('429 retry-after 120', () => ({ status: 429, headers: { 'retry-after': '120' }, body: undefined })),
    fail('500', () => ({ status: 500, headers: {}, body: undefined })),
    fail('timeout', () => new HttpError('timeout', 'timed out')),
    fail('network', () => new HttpError('network', 'ECONNREFUSED')),
  );
  const definitiveFailure = fc.constantFrom(
    fail('401', () => ({ status: 401, headers: {}, body: { error: 'invalid_credentials' } }), true),
    fail('revoked', () => ({ status: 401, headers: {}, body: { error: 'revoked' } }), true),
  );
  const w = <T>(weight: number, arbitrary: fc.Arbitrary<T>) => ({ weight, arbitrary });
  // Weighted toward the moments where auth and connection meet: refresh points, transient
  // failures while a token is still good, refusals and retries inside those windows.
  return [
    fc.oneof(
      w(
        3,
        fc.constantFrom(
          ...[100, 1_000, 5_000, 30_000, 120_000].map((ms) =>
            cmd(
              `advance ${ms}`,
              () => true,
              (_m, w) => void w.clock.increment(ms),
            ),
          ),
        ),
      ),
      w(
        1,
        fc.constant(
          cmd(
            'advance 25 days',
            () => true,
            (_m, w) => void w.clock.increment(25 * 86_400_000),
          ),
        ),
      ),
      w(
        1,
        fc.constantFrom(
          ...[60_000, 3_600_000].map((ms) =>
            cmd(
              `sleep ${ms}`,
              () => true,
              async (_m, w) => {
                w.slept += ms;
                await w.settle();
                w.clock.increment(1_000); // the first wake check after the lid opens
              },
            ),
          ),
        ),
      ),
      w(4, fc.constantFrom(...[3_000, 20_000, 120_000, 120_000].map(token))),
      w(1, definitiveFailure),
      w(4, transient),
      w(
        2,
        fc.constant(
          cmd(
            'hub refuses the next token (4001)',
            () => true,
            (_m, w) => void (w.refuseNextConnect = true),
          ),
        ),
      ),
      w(
        2,
        fc.constant(
          cmd(
            'hub: token expired (4002)',
            () => true,
            (_m, w) => {
              const peer = w.net.latest();
              if (peer?.state === 'open') {
                w.refusalsInARow++;
                peer.close(4002, 'token_expired');
              }
            },
          ),
        ),
      ),
      // Jumps to the moments that matter, as a schedule would reach them.
      w(
        3,
        fc.constant(
          cmd(
            'advance to the refresh point',
            () => true,
            (_m, w) => {
              const at = authContext(w)?.refreshAt;
              if (at !== undefined) w.clock.increment(Math.max(0, at - (w.clock.now() + w.slept)) + 1);
            },
          ),
        ),
      ),
      w(
        2,
        fc.constant(
          cmd(
            'advance to the auth retry',
            () => true,
            (_m, w) => void w.clock.increment(authContext(w)?.retryInMs ?? 0),
          ),
        ),
      ),
      w(
        2,
        fc.constant(
          cmd(
            'advance to the connection retry',
            () => true,
            (_m, w) => void w.clock.increment(w.connector.status.connection.retryInMs ?? 0),
          ),
        ),
      ),
      w(
        2,
        fc.constantFrom(
          ...[2_000, 0].map((before) =>
            cmd(
              `advance to ${before} ms before expiry`,
              () => true,
              (_m, w) => {
                const expiresAt = authContext(w)?.grant?.expiresAt;
                const delta = expiresAt === undefined ? 0 : expiresAt - before - (w.clock.now() + w.slept);
                if (delta > 0) w.clock.increment(delta);
              },
            ),
          ),
        ),
      ),
      w(
        2,
        fc.constant(
          cmd(
            'network drops the socket',
            () => true,
            (_m, w) => void w.net.latest()?.drop(),
          ),
        ),
      ),
      // User mode: the host and the user.
      w(
        2,
        fc.constant(
          cmd(
            'host: login',
            () => world().mode === 'user',
            (_m, w) => void w.connector.actor.send({ type: 'login' }),
          ),
        ),
      ),
      w(
        1,
        fc.constant(
          cmd(
            'host: cancel login',
            () => world().mode === 'user',
            (_m, w) => {
              w.loggedOutAllowed = true;
              w.connector.actor.send({ type: 'cancel_login' });
            },
          ),
        ),
      ),
      w(
        1,
        fc.constant(
          cmd(
            'host: logout',
            () => world().mode === 'user',
            (_m, w) => {
              w.loggedOutAllowed = true;
              w.connector.actor.send({ type: 'logout' });
            },
          ),
        ),
      ),
      w(
        2,
        fc.constantFrom(
          ...['org-a', 'org-b', 'org-zzz'].map((org) =>
            cmd(
              `host: switch to ${org}`,
              () => world().mode === 'user',
              (_m, w) => void w.connector.actor.send({ type: 'switch_organization', organization: org }),
            ),
          ),
        ),
      ),
      w(
        3,
        fc.constantFrom(
          ...['authorization_pending', 'slow_down', 'access_denied', 'expired_token'].map((error) =>
            cmd(
              `login poll: ${error}`,
              () => hasPending(world(), '/v1/oauth/token') && world().mode === 'user',
              (_m, w) => {
                if (error === 'access_denied' || error === 'expired_token') w.loggedOutAllowed = true;
                respond(w, { status: 400, headers: {}, body: { error } }, '/v1/oauth/token');
              },
            ),
          ),
        ),
      ),
      w(
        1,
        fc.constantFrom(
          ...['invalid_grant', 'invalid_scope'].map((error) =>
            cmd(
              `token: ${error}`,
              () => hasPending(world(), '/v1/oauth/token') && world().mode === 'user',
              (_m, w) => {
                if (error === 'invalid_grant') w.loggedOutAllowed = true;
                respond(w, { status: 400, headers: {}, body: { error } }, '/v1/oauth/token');
              },
            ),
          ),
        ),
      ),
      // The next user token is for the organization a switch asked for (the hub re-scopes it).
      w(
        1,
        fc.constantFrom(
          ...[...ORGS].map((org) =>
            cmd(
              `hub scopes tokens to ${org.id}`,
              () => world().mode === 'user',
              (_m, w) => void (w.organization = org),
            ),
          ),
        ),
      ),
      w(
        1,
        fc.constant(
          cmd(
            'host connects',
            () => true,
            (_m, w) => void w.connector.actor.send({ type: 'connect' }),
          ),
        ),
      ),
    ),
  ];
}

describe('auth + connection, model-based', () => {
  afterAll(() => {
    authCoverage.report();
    connectionCoverage.report("as auth's partner; see connection.model.test.ts");
  });

  it('keeps its invariants under any interleaving', async () => {
    let world!: World;
    const arbitraries = commands(() => world);
    // Directed walks into windows random runs rarely hit; they run on top of the random ones.
    const examples = directedExamples(names.sequence);
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<Mode>('device', 'device', 'device', 'user', 'user', 'user', 'static', 'none'),
        fc.constantFrom<number | null>(null, -60_000, 30_000, 600_000, 30 * 86_400_000),
        fc.boolean(),
        fc.commands(arbitraries, commandOptions({ maxCommands: 60, size: 'large' })),
        async (mode, staticLifetimeMs, storedSession, cmds) => {
          world = new World(mode, staticLifetimeMs, storedSession);
          const model: Model = { definitive: false };
          world.connector.start();
          await world.settle();
          if (process.env.MODEL_DEBUG) {
            world.connector.on('state', (e) => console.log('   ', e.actor, e.state, e.reason));
            console.log('RUN', mode, staticLifetimeMs, cmds.toString(), JSON.stringify(world.connector.status.connection));
          }
          try {
            await fc.asyncModelRun(() => ({ model, real: world }), cmds);
          } finally {
            const stopped = world.connector.stop();
            world.clock.increment(2_000);
            await stopped;
          }
        },
      ),
      { ...modelRunParameters('auth + connection', 200), examples },
    );
  });

  it('covered every transition of the auth machine', () => {
    expect(authCoverage.uncovered()).toEqual([]);
  });
});
