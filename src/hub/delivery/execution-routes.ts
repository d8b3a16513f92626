import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { reply } from '../../http/reply.ts';
import { parseParams, pathOf, queryOf, readBody } from '../../http/request.ts';
import type { Logger } from '../../log/logger.ts';
import type { OperatorAccess } from '../admin/operator-access.ts';
import { HubError } from '../core/errors.ts';
import type { UsageSummary } from '../usage/usage-store.ts';
import type { ExecutionRequestInput, HubDelivery, MessagingEventInput, MessagingResult } from './delivery.ts';

/** What the routes ask of reliable delivery. */
type RouteDelivery = Pick<HubDelivery, 'execute' | 'snapshot' | 'snapshotAnywhere' | 'cancelAnywhere' | 'message'>;

/** The route a request matched: one of these is set. */
interface Matched {
  dispatch: RegExpExecArray | null;
  messages: RegExpExecArray | null;
  single: RegExpExecArray | null;
  cancel: RegExpExecArray | null;
  usage: boolean;
}

/** What the execution routes need from the hub. */
export interface ExecutionRoutesParts {
  /** Who may use these routes. */
  access: Pick<OperatorAccess, 'admit'>;
  logger: Logger;
  delivery: RouteDelivery;
  usage(tenantId: string): UsageSummary;
}

const MAX_BODY_BYTES = 1024 * 1024;
/** `execution_cancel.reason`'s bound in the protocol (src/protocol/messages.ts). */
const MAX_CANCEL_REASON = 1024;
const STATUS_OF_ERROR: Partial<Record<HubError['code'], number>> = {
  invalid_message: 400,
  tenant_required: 400,
  ambiguous_device: 409,
  duplicate_request: 409,
  queue_full: 429,
};

/**
 * Operators' routes for executions and usage, behind {@link OperatorAccess} like the other admin routes:
 *
 * - `POST /v1/devices/{device_id}/executions[?tenant_id=…]` with an `execution_request` body
 *   (without `type`; `request_id` optional) → 202 `{ request_id, status }`. Queued when the device
 *   is offline (then `tenant_id` is required).
 * - `GET /v1/executions/{request_id}` → the execution with its status and events.
 * - `POST /v1/executions/{request_id}/cancel`, body empty or `{ reason? }` → 202
 *   `{ request_id, cancelling: true }`; 409 `already_ended` for an ended execution.
 * - `GET /v1/usage?tenant=…` → the tenant's usage ledger and totals.
 * - `POST /v1/devices/{device_id}/messages[?tenant_id=…][&wait=1]` with a `messaging_event` body
 *   (without `type`) → 202 `{ request_id }`, or with `wait=1` 200 `{ request_id, reply }` once
 *   the device answered.
 *
 * Returns false for a request that is not one of these paths.
 */
export function createExecutionRoutes(parts: ExecutionRoutesParts): (req: IncomingMessage, res: ServerResponse) => boolean {
  const { delivery } = parts;
  return (req, res) => {
    const path = pathOf(req.url);
    const dispatch = /^\/v1\/devices\/([^/]+)\/executions$/.exec(path);
    const messages = /^\/v1\/devices\/([^/]+)\/messages$/.exec(path);
    const single = /^\/v1\/executions\/([^/]+)$/.exec(path);
    const cancel = /^\/v1\/executions\/([^/]+)\/cancel$/.exec(path);
    const usage = path === '/v1/usage';
    if (!dispatch && !messages && !single && !cancel && !usage) return false;
    parts.access
      .admit(req, res)
      .then((admitted) => {
        if (admitted) answer(req, res, { dispatch, messages, single, cancel, usage });
      })
      .catch((error: unknown) => {
        parts.logger.error({ err: error, path }, 'operator request failed');
        reply(res, 500, { error: 'internal' });
      });
    return true;
  };

  function answer(req: IncomingMessage, res: ServerResponse, route: Matched): void {
    const { dispatch, messages, single, cancel, usage } = route;
    const method = req.method ?? '';
    const allow = dispatch || messages || cancel ? 'POST' : 'GET';
    if (method !== allow) {
      reply(res, 405, { error: 'method_not_allowed' }, { allow });
      return;
    }
    const id = decode((dispatch ?? messages ?? single ?? cancel)?.[1]);
    if (id === null) {
      reply(res, 400, { error: 'invalid_request' });
      return;
    }
    const query = queryOf(req.url);
    if (usage) {
      const tenant = query.get('tenant');
      if (!tenant) reply(res, 400, { error: 'invalid_request', message: 'tenant is required' });
      else reply(res, 200, parts.usage(tenant));
    } else if (single) {
      void delivery.snapshotAnywhere(id).then(
        (snapshot) => reply(res, snapshot ? 200 : 404, snapshot ?? { error: 'not_found' }),
        () => reply(res, 503, { error: 'unavailable', message: 'the execution store cannot be read now' }),
      );
    } else if (cancel) {
      void cancelFromBody(req, res, delivery, id);
    } else if (messages) {
      void messageFromBody(req, res, delivery, id, query.get('tenant_id') ?? undefined, query.get('wait') === '1');
    } else {
      void dispatchFromBody(req, res, delivery, id, query.get('tenant_id') ?? undefined);
    }
  }
}

async function dispatchFromBody(
  req: IncomingMessage,
  res: ServerResponse,
  delivery: RouteDelivery,
  deviceId: string,
  tenantId: string | undefined,
): Promise<void> {
  const text = await readBody(req, MAX_BODY_BYTES);
  const body = text === undefined ? undefined : parseParams('application/json', text);
  if (!body) return reply(res, 400, { error: 'invalid_request', message: 'the body must be a JSON object' });
  try {
    const { requestId, stored } = delivery.execute(deviceId, body as ExecutionRequestInput, tenantId);
    // Accepted only once stored: a 202 must not be lost with a node that dies right after it.
    if (
      !(await stored.then(
        () => true,
        () => false,
      ))
    )
      return reply(res, 503, { error: 'engine_unavailable', message: `request '${requestId}' could not be stored; try again later` });
    reply(res, 202, { request_id: requestId, status: delivery.snapshot(requestId)?.status ?? 'queued' });
  } catch (error) {
    if (!(error instanceof HubError)) throw error;
    reply(res, STATUS_OF_ERROR[error.code] ?? 400, { error: error.code, message: error.message });
  }
}

/** What `POST /v1/executions/{id}/cancel` takes: nothing, or a JSON object with an optional `reason`. */
const CancelBody = z.object({ reason: z.string().min(1).max(MAX_CANCEL_REASON).optional() });

/**
 * Cancels with the body's `reason` (it reaches the device in `execution_cancel.reason`, and the
 * execution ends `cancelled` with it). An empty body cancels with the hub's default reason.
 */
async function cancelFromBody(req: IncomingMessage, res: ServerResponse, delivery: RouteDelivery, requestId: string): Promise<void> {
  const text = await readBody(req, MAX_BODY_BYTES);
  if (text === undefined) return reply(res, 400, { error: 'invalid_request', message: 'the body is too large or was cut off' });
  const params = text.trim() === '' ? {} : parseParams('application/json', text);
  const body = params && CancelBody.safeParse(params);
  if (!body?.success) {
    return reply(res, 400, {
      error: 'invalid_request',
      message: `the body must be empty or a JSON object with an optional reason of 1 to ${MAX_CANCEL_REASON} characters`,
    });
  }
  let cancelled: Awaited<ReturnType<RouteDelivery['cancelAnywhere']>>;
  try {
    cancelled = await delivery.cancelAnywhere(requestId, body.data.reason);
  } catch {
    return reply(res, 503, { error: 'unavailable', message: 'the execution store cannot be read now' });
  }
  if (cancelled.outcome === 'unknown') return reply(res, 404, { error: 'not_found' });
  if (cancelled.outcome === 'ended') {
    return reply(res, 409, {
      error: 'already_ended',
      message: `execution '${requestId}' has ended`,
      request_id: requestId,
      status: cancelled.snapshot?.status,
    });
  }
  reply(res, 202, { request_id: requestId, cancelling: true });
}

async function messageFromBody(
  req: IncomingMessage,
  res: ServerResponse,
  delivery: RouteDelivery,
  deviceId: string,
  tenantId: string | undefined,
  wait: boolean,
): Promise<void> {
  const text = await readBody(req, MAX_BODY_BYTES);
  const body = text === undefined ? undefined : parseParams('application/json', text);
  if (!body) return reply(res, 400, { error: 'invalid_request', message: 'the body must be a JSON object' });
  let sent: { requestId: string; reply: Promise<MessagingResult> };
  try {
    sent = delivery.message(deviceId, body as MessagingEventInput, tenantId);
  } catch (error) {
    if (!(error instanceof HubError)) throw error;
    return reply(res, STATUS_OF_ERROR[error.code] ?? 400, { error: error.code, message: error.message });
  }
  if (!wait) return reply(res, 202, { request_id: sent.requestId });
  reply(res, 200, { request_id: sent.requestId, reply: await sent.reply });
}

function decode(segment: string | undefined): string | null {
  if (segment === undefined) return '';
  try {
    return decodeURIComponent(segment);
  } catch {
    return null;
  }
}
