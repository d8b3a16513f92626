import type { Actor } from 'xstate';
import type { Logger } from '../log/logger.ts';
import type { AuthMode } from '../machines/auth.ts';
import type { supervisorMachine } from '../machines/supervisor.ts';
import type { ConnectorEvent } from '../status/connector-event.ts';
import type { ConnectorStatus } from '../status/connector-status.ts';
import { filter, firstValueFrom, type Observable } from '../util/rx.ts';
import type { Connector } from './connector-types.ts';

/**
 * Tells the host what the supervisor says of logins and of its children, and keeps a supervisor
 * error from killing the host: without an error observer XState rethrows it in a timer.
 */
export function forwardSupervisorEvents(
  actor: Actor<typeof supervisorMachine>,
  notify: (event: ConnectorEvent) => void,
  log: Logger,
  onError: () => void,
): void {
  actor.on('auth.login_prompt', ({ login }) => notify({ type: 'login_prompt', ...login }));
  actor.on('auth.logged_out', ({ reason }) => notify({ type: 'logged_out', reason }));
  actor.on('auth.tenant_changed', ({ tenant }) => notify({ type: 'tenant_changed', tenant }));
  actor.on('auth.switch_failed', ({ organization, reason }) => notify({ type: 'switch_failed', organization, reason }));
  actor.on('child.restarted', (e) => {
    log.warn({ child: e.child, error: e.error }, 'child restarted');
    notify(e);
  });
  actor.on('child.failed', (e) => {
    log.error({ child: e.child, error: e.error }, 'child failed past its restart budget; degraded');
    notify(e);
  });
  actor.subscribe({
    error: (error) => {
      log.error({ err: error }, 'supervisor stopped on an error');
      onError();
    },
  });
}

/** The connector's user-mode calls: `login`, `logout` and `switchOrganization`, each answered by the event that ends it. */
export function userSession(
  actor: Actor<typeof supervisorMachine>,
  events$: Observable<ConnectorEvent>,
  status: () => ConnectorStatus,
  authMode: AuthMode,
): Pick<Connector, 'login' | 'logout' | 'switchOrganization'> {
  const next = <T extends ConnectorEvent['type']>(type: T) =>
    firstValueFrom(events$.pipe(filter((e): e is Extract<ConnectorEvent, { type: T }> => e.type === type)));
  const requireUserMode = () => {
    if (authMode !== 'user') throw new Error('login, logout and organizations need userLogin: true');
  };
  return {
    async login() {
      requireUserMode();
      const prompt = next('login_prompt');
      actor.send({ type: 'login' });
      return prompt;
    },
    async logout() {
      requireUserMode();
      const done = next('logged_out');
      actor.send({ type: 'logout' });
      if (status().auth.state === 'logged_out') return;
      await done;
    },
    async switchOrganization(organization) {
      requireUserMode();
      const outcome = firstValueFrom(
        events$.pipe(
          filter(
            (e): e is Extract<ConnectorEvent, { type: 'tenant_changed' | 'switch_failed' }> =>
              (e.type === 'tenant_changed' && e.tenant === organization) || (e.type === 'switch_failed' && e.organization === organization),
          ),
        ),
      );
      actor.send({ type: 'switch_organization', organization });
      const result = await outcome;
      if (result.type === 'switch_failed') throw new Error(`cannot switch to ${organization}: ${result.reason}`);
    },
  };
}

/** The connector's `on`: a listener of one event type; one that throws is logged, never rethrown (RxJS would, in a timer, killing the host). */
export function listen(events$: Observable<ConnectorEvent>, log: Logger): Connector['on'] {
  return (type, listener) => {
    const subscription = events$
      .pipe(filter((e): e is Extract<ConnectorEvent, { type: typeof type }> => e.type === type))
      .subscribe((event) => {
        try {
          listener(event);
        } catch (error) {
          log.error({ err: error, event: type }, 'event listener threw');
        }
      });
    return () => subscription.unsubscribe();
  };
}
