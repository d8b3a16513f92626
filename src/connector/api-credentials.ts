import { filter, firstValueFrom, map, Observable, race } from '../util/rx.ts';
import type { ApiCredentials } from '../api/client.ts';
import type { TokenGrant } from '../machines/auth-types.ts';
import type { ConnectorStatus } from './status.ts';
import type { RuntimeClock } from '../util/clock.ts';

export interface ConnectorCredentialsOptions {
  /** The auth actor's grant now. */
  grant(): TokenGrant | undefined;
  /** Tells the supervisor (which tells the auth machine). */
  send(event: { type: 'api.token_rejected' | 'api.token_accepted' }): void;
  /** The connector's status stream (read lazily: the connector makes it after its actors). */
  status$(): Observable<ConnectorStatus>;
  clock: RuntimeClock;
  deviceId: string;
  tenantId: string;
  /** Whether the auth machine can fetch a new token (`device` and `user` modes). */
  refreshable: boolean;
  /** Give up waiting for a refreshed token after this long. Default 30 s. */
  refreshTimeoutMs?: number;
}

/**
 * The connector's credentials for HTTP requests (settings, the API client): its current token,
 * the device id and the tenant, as `connect` carries them. A 401 asks the auth machine for a
 * reactive refresh (the same path as the hub refusing the token on the socket), and waits for
 * the new token: concurrent 401s on the same token share that one refresh, and a token already
 * replaced is simply used.
 *
 * @example
 * const credentials = connectorCredentials({ grant, send: (e) => actor.send(e), status$: () => state$, clock, deviceId, tenantId, refreshable: true });
 * const api = new ApiClient({ http, origin, clock, credentials });
 */
export function connectorCredentials(options: ConnectorCredentialsOptions): ApiCredentials {
  const headers = (): Record<string, string> | undefined => {
    const current = options.grant();
    if (!current) return undefined;
    return {
      authorization: `Bearer ${current.token}`,
      'x-device-id': options.deviceId,
      'x-tenant-id': current.user?.organization.id ?? options.tenantId,
    };
  };
  let refreshing: { stale: string; result: Promise<boolean> } | undefined;
  /** A token other than `stale` is there. */
  const tokenArrives = (stale?: string) =>
    options.status$().pipe(
      map(() => headers()?.authorization),
      filter((now) => now !== undefined && now !== stale),
      map(() => true),
    );
  /** The auth machine gave up on getting one (waiting to retry, or refused for good). */
  const authGivesUp = () =>
    options.status$().pipe(
      filter((s) => ['waiting', 'inactive', 'unauthorized', 'logged_out', 'stopped'].includes(s.auth.state)),
      map(() => false),
    );
  const timeout = () =>
    new Observable<boolean>((subscriber) => {
      const id = options.clock.setTimeout(() => subscriber.next(false), options.refreshTimeoutMs ?? 30_000);
      return () => options.clock.clearTimeout(id);
    });
  return {
    headers,
    refresh(stale) {
      const now = headers()?.authorization;
      if (now !== undefined && now !== stale.authorization) return Promise.resolve(true);
      if (!options.refreshable) return Promise.resolve(false);
      if (refreshing && refreshing.stale === stale.authorization) return refreshing.result;
      const staleToken = stale.authorization;
      const result = firstValueFrom(race(tokenArrives(staleToken), authGivesUp(), timeout()), { defaultValue: false });
      refreshing = { stale: staleToken ?? '', result };
      options.send({ type: 'api.token_rejected' });
      return result;
    },
    accepted() {
      options.send({ type: 'api.token_accepted' });
    },
    whenReady() {
      if (headers() !== undefined) return Promise.resolve(true);
      if (!options.refreshable) return Promise.resolve(false);
      return firstValueFrom(race(tokenArrives(), authGivesUp(), timeout()), { defaultValue: false });
    },
  };
}
