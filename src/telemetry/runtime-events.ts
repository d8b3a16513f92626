import type { Observable } from 'rxjs';
import type { ConnectorEvent } from '../status/connector-event.ts';
import type { ConnectorStatus, ExecutionsStatus } from '../status/connector-status.ts';
import type { RuntimeClock } from '../util/clock.ts';
import type { Telemetry } from './telemetry.ts';

export interface RuntimeEventsOptions {
  telemetry: Telemetry;
  events$: Observable<ConnectorEvent>;
  status: () => ConnectorStatus;
  executions: () => ExecutionsStatus;
  clock: RuntimeClock;
  /** How often `runtime.metrics` (round trip, outbox depth, work in hand) is recorded. Default 60 s. */
  metricsIntervalMs?: number;
}

/**
 * The runtime's own telemetry: connection state changes and reconnects, refresh failures,
 * execution durations and failures, and every minute the round trip, outbox depth and work in
 * hand. Only recorded while telemetry is enabled. Returns the function that stops it.
 *
 * @example
 * const stop = trackRuntime({ telemetry, events$: connector.events$, status: () => connector.status, executions: () => connector.executions, clock });
 */
export function trackRuntime(options: RuntimeEventsOptions): () => void {
  const { telemetry } = options;
  let connects = 0;
  const subscription = options.events$.subscribe((event) => {
    if (!telemetry.enabled) return;
    if (event.type === 'state' && event.actor === 'connection') {
      telemetry.track('connection.state_changed', {
        state: event.state,
        reason: event.reason,
        attempt: options.status().connection.attempt,
      });
      if (event.state === 'connected' && ++connects > 1) telemetry.track('connection.reconnected', { reconnects: connects - 1 });
    }
    if (
      event.type === 'state' &&
      event.actor === 'auth' &&
      (event.state === 'waiting' || event.state === 'inactive' || event.state === 'unauthorized')
    ) {
      telemetry.track('auth.refresh_failed', { state: event.state, reason: event.reason });
    }
    if (event.type === 'execution_ended') {
      telemetry.track('execution.ended', {
        job_type: event.jobType,
        outcome: event.outcome,
        duration_ms: event.durationMs,
        ...(event.errorCode && { error_code: event.errorCode }),
      });
    }
  });
  let timer: unknown;
  const sample = () => {
    timer = options.clock.setTimeout(sample, options.metricsIntervalMs ?? 60_000);
    if (!telemetry.enabled) return;
    const { heartbeat } = options.status();
    const { outboxDepth, capacity } = options.executions();
    telemetry.track('runtime.metrics', {
      ...(heartbeat.rttMs !== undefined && { rtt_ms: heartbeat.rttMs }),
      outbox_depth: outboxDepth,
      running: capacity.running,
      queued: capacity.queued,
    });
  };
  timer = options.clock.setTimeout(sample, options.metricsIntervalMs ?? 60_000);
  return () => {
    subscription.unsubscribe();
    options.clock.clearTimeout(timer);
  };
}
