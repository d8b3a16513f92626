import { fetchHttpAdapter } from '../adapters/fetch-http.ts';
import { wsSocketAdapter } from '../adapters/ws-socket.ts';
import { createRedactor } from '../inspection-events/redact.ts';
import { InspectionStream } from '../inspection-events/stream.ts';
import type { Logger } from '../log/logger.ts';
import { startSessionRecording } from '../recording/session-recording.ts';
import { realClock } from '../util/clock.ts';
import type { ConnectorConfig } from './config.ts';
import type { ConnectorOptions } from './connector-types.ts';
import { snapshotStore } from './store-snapshot.ts';
import { CONNECTOR_VERSION } from './version.ts';

/**
 * What watches a connector from outside, and the adapters it runs on: a session recording
 * (when asked for) sits between the connector and its clock, socket and HTTP adapters, and
 * everything inspected leaves through one sanitised stream, so the host's observer and the
 * recording never see a token. One redactor serves both.
 */
export function observeConnector(cfg: ConnectorConfig, seed: number, options: Pick<ConnectorOptions, 'clock' | 'socket' | 'http' | 'record' | 'inspect' | 'inspection' | 'store'>, log: Logger) {
  const redact = createRedactor({
    secretKeys: options.inspection?.secretKeys ?? [],
    secretValues: [cfg.credential, cfg.token].filter((v): v is string => v !== undefined),
  });
  const given = { clock: options.clock ?? realClock, socket: options.socket ?? wsSocketAdapter, http: options.http ?? fetchHttpAdapter };
  // A given store may hold work from an earlier run: its contents go in the header, for a replay.
  const store = options.record && options.store ? snapshotStore(options.store, redact) : undefined;
  const recording = options.record ? startSessionRecording({ record: options.record, library: CONNECTOR_VERSION, config: { ...cfg, seed }, ...given, redact, ...(store && { store }) }) : undefined;
  const { clock, socket, http } = recording ?? given;
  const inspection = new InspectionStream({ clock, redact, onListenerError: (error) => log.error({ err: error }, 'an inspection observer threw') });
  recording?.follow(inspection);
  const hostInspect = options.inspect;
  if (hostInspect) inspection.observe((event) => (typeof hostInspect === 'function' ? hostInspect(event) : hostInspect.next?.(event)));
  return { recording, inspection, clock, socket, http };
}
