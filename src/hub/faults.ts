import type { FaultGate, TokenEndpointBehaviour } from './auth/fault-gate.ts';
import type { OpenSessions } from './session/open-sessions.ts';

/**
 * Failures to inject in tests of the connector.
 *
 * @example
 * hub.faults.silence('laptop-1', true);  // the connector should notice missing heartbeat acks
 * hub.faults.dropDevice('laptop-1');     // the connector should see 1006 and reconnect
 */
export interface HubFaults {
  /**
   * Destroys every socket of the device without a close frame, like a network drop.
   * Returns false when the device has no session.
   */
  dropDevice(deviceId: string): boolean;
  /**
   * Plays dead towards a device (or every device with `'*'`): no `heartbeat_ack`, no
   * `connect_ack`, no dispatched or error frames; close frames still go out. The hub keeps
   * reading and does not time a silenced device out. Holds across reconnects until turned
   * off; `silence('*', false)` lifts every silence.
   */
  silence(deviceId: string, on: boolean): void;
  /**
   * Makes the token endpoints, `POST /v1/device-token` and `POST /v1/oauth/token` (both
   * grants), answer `'ok'` (for real, the default), with a fixed error status
   * (`Retry-After: retryAfterS` on a 429 or 503), or `'hang'`: no answer until the behaviour
   * changes (then by the new one) or the hub closes. The fault bodies are those of
   * `/v1/device-token` (`{ error: 'rate_limited' }`, …), but a 401 on `/v1/oauth/token` is
   * `{ error: 'invalid_client' }`. No effect on a hub without the `tokens` option, which has
   * no token endpoint.
   *
   * @example
   * hub.faults.tokenEndpoint({ status: 429, retryAfterS: 2 }); // the auth machine must wait, not log out
   * hub.faults.tokenEndpoint('hang');                          // its request timeout must fire
   * hub.faults.tokenEndpoint('ok');
   */
  tokenEndpoint(behaviour: TokenEndpointBehaviour): void;
  /**
   * Dies as a killed process would: every socket destroyed without a close frame, the port let
   * go, the engine's connections dropped with nothing flushed and no presence released. Only
   * `close()` is left to call. For tests of several nodes on one store (docs/scaling.md).
   *
   * @example
   * nodeA.faults.crash(); // the device reconnects to node B, which claims it and resumes its queue
   */
  crash(): void;
}

/** A hub's {@link HubFaults}, and the silence they set, which its sessions consult. */
export interface FaultHooks {
  readonly faults: HubFaults;
  /** Whether the hub plays dead towards this device; `undefined` (before `connect`) only under `'*'`. */
  isSilenced(deviceId: string | undefined): boolean;
}

/**
 * Creates the fault hooks of a hub. `gate` is the token endpoints' fault gate; absent
 * without the `tokens` option, which makes `tokenEndpoint` a no-op.
 *
 * @example
 * const { faults, isSilenced } = createFaultHooks(sessions, gate);
 * faults.silence('*', true);
 * isSilenced(undefined); // true
 */
export function createFaultHooks(sessions: OpenSessions, gate: FaultGate | undefined, crash: () => void = () => {}): FaultHooks {
  const silenced = { all: false, devices: new Set<string>() };
  return {
    faults: {
      dropDevice: (deviceId) => {
        const open = sessions.withDevice(deviceId);
        for (const { session } of open) session.terminate();
        return open.length > 0;
      },
      silence: (deviceId, on) => {
        if (deviceId === '*') {
          silenced.all = on;
          if (!on) silenced.devices.clear();
        } else if (on) silenced.devices.add(deviceId);
        else silenced.devices.delete(deviceId);
      },
      tokenEndpoint: (behaviour) => gate?.setBehaviour(behaviour),
      crash: () => {
        crash();
        sessions.terminateAll();
      },
    },
    isSilenced: (deviceId) => silenced.all || (deviceId !== undefined && silenced.devices.has(deviceId)),
  };
}
