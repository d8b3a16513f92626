import { direction, FrameError, type MessageType, type Outbound } from '../../protocol/index.ts';
import { HubError } from '../core/errors.ts';
import type { OpenSessions } from '../session/open-sessions.ts';
import type { Session } from '../session/session.ts';

/** Messages `dispatch` may send. Handshake and heartbeat replies are the session's own business. */
export type DispatchMessage = Outbound<'execution_request' | 'messaging_event' | 'capability_reload' | 'error'>;
const dispatchable: ReadonlySet<MessageType> = new Set(['execution_request', 'messaging_event', 'capability_reload', 'error']);

/**
 * Sends a message to a device's session and returns the message id and where it went; `hub.dispatch` documents
 * the rules. The message type is checked before the device is looked up.
 *
 * @throws {HubError} `not_connected`, `ambiguous_device` or `invalid_message`.
 * @example
 * dispatch(sessions, 'laptop-1', { type: 'execution_request', request_id: 'r1', job_type: 'tool', tool_name: 'echo' }, 'acme');
 */
export function dispatch(
  sessions: OpenSessions,
  deviceId: string,
  message: DispatchMessage,
  tenantId: string | undefined,
): { id: string; to: { device_id: string; tenant_id: string } } {
  if (!dispatchable.has(message.type)) {
    const why = direction[message.type] === 'to_hub' ? 'is sent by devices' : 'is sent by the hub itself';
    throw new HubError('invalid_message', `cannot dispatch '${message.type}': it ${why}`);
  }
  const session = findSession(sessions, deviceId, tenantId);
  try {
    return { id: session.send(message), to: { device_id: deviceId, tenant_id: session.info!.tenant_id } };
  } catch (error) {
    if (error instanceof FrameError) throw new HubError('invalid_message', error.message, { cause: error });
    throw error;
  }
}

/** The session of a device: in `tenantId`, or, without one, in the only tenant it is connected in. */
function findSession(sessions: OpenSessions, deviceId: string, tenantId: string | undefined): Session {
  if (tenantId !== undefined) {
    const entry = sessions.get(tenantId, deviceId);
    if (!entry) throw new HubError('not_connected', `device '${deviceId}' of tenant '${tenantId}' is not connected`);
    return entry.session;
  }
  const [only, ...others] = sessions.withDevice(deviceId);
  if (!only) throw new HubError('not_connected', `device '${deviceId}' is not connected`);
  if (others.length > 0) {
    throw new HubError(
      'ambiguous_device',
      `device '${deviceId}' is connected in ${others.length + 1} tenants; name its tenant ('?tenant_id=' over REST, 'tenantId' in code)`,
    );
  }
  return only.session;
}
