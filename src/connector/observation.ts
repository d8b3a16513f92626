import { createNodeHttpAdapter } from '../adapters/node-http.ts';
import { createWsSocketAdapter } from '../adapters/ws-socket.ts';
import { createNetwork, type Network } from '../network/network.ts';
import { createRedactor } from '../inspection-events/redact.ts';
import { InspectionStream } from '../inspection-events/stream.ts';
import type { Logger } from '../log/logger.ts';
import { startSessionRecording } from '../recording/session-recording.ts';
import { realClock } from '../util/clock.ts';
import { ConfigError, type ConnectorConfig } from './config.ts';
import type { ConnectorOptions } from './connector-types.ts';
import { snapshotStore } from './store-snapshot.ts';
import { CONNECTOR_VERSION } from './version.ts';

/**
 * What watches a connector from outside, and the adapters it runs on: a session recording
 * (when asked for) sits between the connector and its clock, socket and HTTP adapters, and
 * everything inspected leaves through one sanitised stream, so the host's observer and the
 * recording never see a token. One redactor serves both. The default adapters share one
 * {@link Network}: the socket and every HTTP path go through the same proxy with the same trust.
 */
export function observeConnector(
  cfg: ConnectorConfig,
  seed: number,
  options: Pick<ConnectorOptions, 'clock' | 'socket' | 'http' | 'record' | 'inspect' | 'inspection' | 'store'>,
  log: Logger,
) {
  const redact = createRedactor({
    secretKeys: options.inspection?.secretKeys ?? [],
    secretValues: [cfg.credential, cfg.token].filter((v): v is string => v !== undefined),
  });
  const network = options.socket && options.http ? undefined : networkOf(cfg);
  const given = {
    clock: options.clock ?? realClock,
    socket: options.socket ?? createWsSocketAdapter({ network: network! }),
    http: options.http ?? createNodeHttpAdapter({ network: network! }),
  };
  // A given store may hold work from an earlier run: its contents go in the header, for a replay.
  const store = options.record && options.store ? snapshotStore(options.store, redact) : undefined;
  const recording = options.record
    ? startSessionRecording({
        record: options.record,
        library: CONNECTOR_VERSION,
        config: { ...cfg, seed },
        ...given,
        redact,
        ...(store && { store }),
      })
    : undefined;
  const { clock, socket, http } = recording ?? given;
  const inspection = new InspectionStream({
    clock,
    redact,
    onListenerError: (error) => log.error({ err: error }, 'an inspection observer threw'),
  });
  recording?.follow(inspection);
  const hostInspect = options.inspect;
  if (hostInspect) inspection.observe((event) => (typeof hostInspect === 'function' ? hostInspect(event) : hostInspect.next?.(event)));
  return { recording, inspection, clock, socket, http, network };
}

/** The network of the configuration's policy; a CA or certificate file that cannot be read is a configuration error. */
function networkOf(cfg: ConnectorConfig): Network {
  try {
    return createNetwork(cfg.network, process.env);
  } catch (error) {
    throw new ConfigError([{ path: 'network', message: (error as Error).message }]);
  }
}
