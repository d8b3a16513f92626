import type { ApiClient } from '../api/client.ts';
import type { SessionRecording } from '../recording/session-recording.ts';
import type { Telemetry } from '../telemetry/telemetry.ts';
import type { ChannelHandle } from './channels.ts';
import type { Connector } from './connector-types.ts';
import type { SettingsHandle } from './settings.ts';

/**
 * Host calls as a session recording keeps them (docs/recording.md): each call until `stop()`,
 * those before `start()` too (channels joined, consent given, as the host sets itself up), is an
 * input (`host`, with its arguments) and what it resolves with an output (`answer`), so a replay
 * makes the same calls in the same order and checks their answers. A call that throws at once is
 * answered with its error too.
 */
export interface HostCallRecorder {
  /** Records the call while `live()`, then makes it; a promise it returns, or an error it throws, is answered. */
  call<R>(name: string, args: unknown[], run: () => R): R;
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** A recorder of host calls over a session recording, live while `live()` says so (until the connector stops). */
export function hostCallRecorder(recording: Pick<SessionRecording, 'host' | 'answer'>, live: () => boolean): HostCallRecorder {
  return {
    call(name, args, run) {
      if (!live()) return run();
      recording.host(name, ...args);
      let result: ReturnType<typeof run>;
      try {
        result = run();
      } catch (error) {
        recording.answer(name, { error: messageOf(error) });
        throw error;
      }
      if (result instanceof Promise) {
        result.then(
          (value: unknown) => recording.answer(name, { value }),
          (error: unknown) => recording.answer(name, { error: messageOf(error) }),
        );
      }
      return result;
    },
  };
}

/** API client methods a host calls: each an `api.<method>` call in a recording. */
const API_CALLS = [
  'whoami',
  'limits',
  'createApiKey',
  'listApiKeys',
  'revokeApiKey',
  'rotateApiKey',
  'usage',
  'createShare',
  'getShare',
] as const satisfies ReadonlyArray<keyof ApiClient>;

/** The API client with its host-facing methods recorded; everything else reaches the client as is. */
export function recordedApi(api: ApiClient, recorder: HostCallRecorder): ApiClient {
  const calls = new Set<PropertyKey>(API_CALLS);
  return new Proxy(api, {
    get(target, property) {
      const value = Reflect.get(target, property, target) as unknown;
      if (typeof value !== 'function') return value;
      if (!calls.has(property)) return value.bind(target);
      return (...args: unknown[]) =>
        recorder.call(`api.${String(property)}`, args, () => (value as (...a: unknown[]) => unknown).apply(target, args));
    },
  });
}

/** Telemetry with consent changes and tracked events recorded. */
export function recordedTelemetry(telemetry: Telemetry, recorder: HostCallRecorder): Telemetry {
  return new Proxy(telemetry, {
    get(target, property) {
      const value = Reflect.get(target, property, target) as unknown;
      if (typeof value !== 'function') return value;
      if (property !== 'setConsent' && property !== 'track') return value.bind(target);
      return (...args: unknown[]) =>
        recorder.call(`telemetry.${property}`, args, () => (value as (...a: unknown[]) => unknown).apply(target, args));
    },
  });
}

/** `connector.channel` with joins, leaves and sends recorded. */
export function recordedChannel(channel: Connector['channel'], recorder: HostCallRecorder): Connector['channel'] {
  return (name, options) => {
    const handle = recorder.call('channel.join', options === undefined ? [name] : [name, options], () => channel(name, options));
    const recorded: ChannelHandle = {
      name: handle.name,
      get state() {
        return handle.state;
      },
      get unacked() {
        return handle.unacked;
      },
      on: (event, schema, handler) => handle.on(event, schema, handler),
      send: (event, payload, sendOptions) =>
        recorder.call(
          'channel.send',
          sendOptions !== undefined ? [name, event, payload, sendOptions] : payload === undefined ? [name, event] : [name, event, payload],
          () => handle.send(event, payload, sendOptions),
        ),
      leave: () => recorder.call('channel.leave', [name], () => handle.leave()),
    };
    return recorded;
  };
}

/**
 * Settings with `update` recorded: the patch, and how the edit ended (`accepted`, `conflict`,
 * `deferred`) or why it was refused at once (a `SettingsError`'s message).
 */
export function recordedSettings<T>(settings: SettingsHandle<T>, recorder: HostCallRecorder): SettingsHandle<T> {
  return new Proxy(settings, {
    get(target, property) {
      const value = Reflect.get(target, property, target) as unknown;
      if (typeof value !== 'function') return value;
      if (property !== 'update') return value.bind(target);
      return (patch: unknown) => recorder.call('settings.update', [patch], () => (value as (p: unknown) => unknown).call(target, patch));
    },
  });
}

/** `login`, `logout` and `switchOrganization`, recorded with their answers. */
export function recordedUserSession(
  session: Pick<Connector, 'login' | 'logout' | 'switchOrganization'>,
  recorder: HostCallRecorder,
): Pick<Connector, 'login' | 'logout' | 'switchOrganization'> {
  return {
    login: () => recorder.call('login', [], () => session.login()),
    logout: () => recorder.call('logout', [], () => session.logout()),
    switchOrganization: (organization) =>
      recorder.call('switchOrganization', [organization], () => session.switchOrganization(organization)),
  };
}

/** The calls a host makes on a connector whose answers a recording keeps. */
export type HostFacing<T = unknown> = Pick<
  Connector<T>,
  'api' | 'telemetry' | 'channel' | 'settings' | 'login' | 'logout' | 'switchOrganization'
>;

/** `facing` as it is, or, with a recorder, each call recorded with its answer. */
export function hostFacing<T>(facing: HostFacing<T>, recorder: HostCallRecorder | undefined): HostFacing<T> {
  if (!recorder) return facing;
  return {
    api: recordedApi(facing.api, recorder),
    settings: recordedSettings(facing.settings, recorder),
    telemetry: recordedTelemetry(facing.telemetry, recorder),
    channel: recordedChannel(facing.channel, recorder),
    ...recordedUserSession(facing, recorder),
  };
}
