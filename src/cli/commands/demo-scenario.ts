import { randomBytes } from 'node:crypto';
import { filter, firstValueFrom } from '../../util/rx.ts';
import { createConnector, type Connector } from '../../connector/connector.ts';
import type { ConnectorStatus } from '../../connector/status.ts';
import { createHub, type Hub } from '../../hub/index.ts';
import type { Logger } from '../../log/logger.ts';
import { demoSettingsSchema, registerDemoHandlers } from './demo-handlers.ts';
import { createNarrator, createStatePrinter } from './output.ts';
import { type Inspector, type InspectorOptions, startInspector } from '../../inspector-page/server.ts';

export interface DemoOptions {
  json: boolean;
  out: NodeJS.WritableStream;
  logger: Logger;
  /** Give up on a step after this long. Default 20 s. */
  stepTimeoutMs?: number;
  /** Starts the built-in inspector on the demo's connector (`true`: a free loopback port). */
  inspect?: boolean | InspectorOptions;
  /** Records the connector's session to this file (`--record FILE`; docs/recording.md). */
  record?: string;
}

export interface DemoRun {
  hub: Hub;
  connector: Connector;
  /** Admin URL of the hub, for a person to look at. */
  adminUrl: string;
  /** The inspector, when `inspect` was given. */
  inspector?: Inspector;
  /** Resolves true when every step completed, false when one timed out. */
  scenario: Promise<boolean>;
  /** Stops the connector and the hub. */
  stop(): Promise<void>;
}

const DEVICE_ID = 'demo-device';

/**
 * The demo: a reference hub on a free loopback port, a connector against it, and a scenario a
 * person can follow: connect, heartbeats, the hub drops the socket, the connector reconnects,
 * the hub goes silent, the connector notices and reconnects; then the hub runs a tool, a playbook
 * and a chain on the device, drops the connection under a running playbook, shows its ledger, and
 * changes the organization's settings, which the connector applies live.
 */
export async function startDemo(options: DemoOptions): Promise<DemoRun> {
  const { json, out, logger } = options;
  const stepTimeoutMs = options.stepTimeoutMs ?? 20_000;
  // The device's enrollment secret: the connector trades it for short-lived JWTs.
  const credential = randomBytes(18).toString('base64url');
  const narrate = createNarrator(json, out);
  const print = createStatePrinter(json, out);

  // Short heartbeats so the silent hub is found in seconds, not the production 35 s, and
  // 6-second tokens so a refresh on the open connection shows within the demo.
  const hub = createHub({
    heartbeatIntervalMs: 1_000,
    heartbeatTimeoutMs: 1_000,
    tokens: { lifetimeMs: 6_000, deviceCredentials: [{ tenant_id: 'local', device_id: DEVICE_ID, secret: credential }] },
    logger: logger.child({ component: 'hub' }),
  });
  const { url, port } = await hub.listen({ port: 0, host: '127.0.0.1' });
  const adminUrl = `http://127.0.0.1:${port}/v1/devices`;
  narrate('hub', `reference hub listening on ${url}`);

  const connector = createConnector(
    // A short restart spread: after the hub restart in step 7 the device is back within 2 s.
    { url, credential, deviceId: DEVICE_ID, client: { name: 'cloudtether-demo', version: '0.1.0' }, backoff: { restartSpreadMs: 2_000 } },
    {
      logger: logger.child({ component: 'connector' }),
      settings: { schema: demoSettingsSchema },
      ...(options.record && { record: { file: options.record } }),
    },
  );
  registerDemoHandlers(connector);
  // Before the scenario starts, so the page has every transition from the first one.
  const inspector = options.inspect
    ? await startInspector(connector, { ...(options.inspect === true ? {} : options.inspect), logger }).catch(async (error: unknown) => {
        await hub.close(); // a port in use: nothing of the demo may stay behind
        throw error;
      })
    : undefined;
  if (inspector) narrate('inspector', `inspector at ${inspector.url}`);
  // Once the scenario is over, a heartbeat round each second would drown everything else.
  let quietHeartbeats = false;
  connector.on('state', ({ type: _type, ...change }) => {
    if (!(quietHeartbeats && !json && change.actor === 'heartbeat')) print(change);
  });

  const waitFor = (what: string, predicate: (s: ConnectorStatus) => boolean) => {
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([
      connector.waitFor(predicate),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), stepTimeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
  };

  const withTimeout = <T>(what: string, promise: Promise<T>) => {
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), stepTimeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
  };
  const printExecution = (requestId: string, event: string, data: Record<string, unknown>) => {
    out.write(
      json
        ? `${JSON.stringify({ execution: requestId, event, data })}\n`
        : `  ${requestId.padEnd(11)} ${event.padEnd(9)} ${JSON.stringify(data)}\n`,
    );
  };

  const scenario = (async () => {
    try {
      narrate('connect', 'step 1: the connector gets a device token (JWT) and connects with it (connect -> connect_ack)');
      connector.start();
      await waitFor('connected', (s) => s.connection.state === 'connected');

      narrate('heartbeats', 'step 2: heartbeats every second, each acknowledged by the hub');
      await waitFor('a heartbeat ack', (s) => s.heartbeat.reason === 'acknowledged');
      await waitFor('the next heartbeat', (s) => s.heartbeat.state === 'awaiting');
      await waitFor('its ack', (s) => s.heartbeat.reason === 'acknowledged');

      narrate('refresh', 'step 3: before the 6-second token expires, a new one goes in-band (auth_refresh): same session, no reconnect');
      const session = connector.status.connection.sessionId;
      const expiresAt = connector.status.auth.expiresAt;
      await waitFor('a token refresh', (s) => s.auth.state === 'valid' && s.auth.expiresAt !== expiresAt);
      if (connector.status.connection.sessionId !== session) throw new Error('the refresh cost a reconnect');

      narrate('drop', 'step 4: the hub drops the socket without a close frame; the connector reconnects');
      const before = connector.status.connection.sessionId;
      hub.faults.dropDevice(DEVICE_ID);
      await waitFor('the drop to be seen', (s) => s.connection.state !== 'connected');
      await waitFor('reconnected', (s) => s.connection.state === 'connected' && s.connection.sessionId !== before);

      narrate('silence', 'step 5: the hub stops answering heartbeats; the connector notices and reconnects');
      hub.faults.silence(DEVICE_ID, true);
      await waitFor('heartbeat timeout', (s) => s.connection.reason === 'heartbeat_timeout');
      hub.faults.silence(DEVICE_ID, false);
      await waitFor('reconnected', (s) => s.connection.state === 'connected');

      narrate(
        'executions',
        'step 6: the hub runs a tool, a playbook and a chain on the device; each reports its events and one usage report',
      );
      const follow = (run: ReturnType<Hub['execute']>) => {
        run.events.subscribe((event) => printExecution(run.requestId, event.event_type, event.data));
        return withTimeout(`${run.requestId} to end`, run.result);
      };
      const results = await Promise.all([
        follow(
          hub.execute(DEVICE_ID, {
            request_id: 'r-tool',
            job_type: 'tool',
            tool_name: 'web_search',
            inputs: { query: 'LINE rate limits' },
          }),
        ),
        follow(hub.execute(DEVICE_ID, { request_id: 'r-playbook', job_type: 'playbook', playbook_code: 'summarize_findings', inputs: {} })),
        follow(
          hub.execute(DEVICE_ID, {
            request_id: 'r-chain',
            job_type: 'chain',
            steps: [
              { job_type: 'tool', tool_name: 'web_search', inputs: { query: 'competitor pricing', max_results: 2 } },
              { job_type: 'playbook', playbook_code: 'summarize_findings' },
            ],
          }),
        ),
      ]);
      if (results.some((r) => r.status !== 'completed')) throw new Error('an execution did not complete');

      narrate(
        'survive',
        'step 7: the hub restarts while a playbook runs; the playbook keeps running, and its events wait in the outbox for the new connection',
      );
      const long = hub.execute(DEVICE_ID, {
        request_id: 'r-long',
        job_type: 'playbook',
        playbook_code: 'weekly_campaign_report',
        inputs: { weeks: 4 },
      });
      const longResult = follow(long);
      await withTimeout('r-long to report progress', firstValueFrom(long.events.pipe(filter((e) => e.event_type === 'progress'))));
      await hub.restart({ downMs: 800 });
      const back = await waitFor('reconnected', (s) => s.connection.state === 'connected');
      // Sent on the new session and not acknowledged yet: what waited while the hub was down.
      narrate(
        'survive',
        `reconnected (session ${back.connection.sessionId}); ${connector.executions.outboxDepth} outbox entries went out on it`,
      );
      const survived = await longResult;
      if (survived.status !== 'completed') throw new Error(`r-long ended ${survived.status}`);

      narrate(
        'chat',
        'step 8: a LINE message arrives through the hub (messaging_event); the local agent answers (messaging_reply, through the outbox)',
      );
      const chat = {
        channel: 'line',
        event_type: 'message',
        message: { text: 'What is on my calendar tomorrow?' },
        user_id: 'U4af4980629a1b2c3d4e5f60718293a4b',
        reply_token: 'nHuyWiB7yP5Zw52FIkcQobQuGDXCTA',
        workspace_id: 'ws_marketing_ops',
      };
      out.write(json ? `${JSON.stringify({ chat: 'in', ...chat.message, channel: chat.channel })}\n` : `  line  <- ${chat.message.text}\n`);
      const answer = await withTimeout('the chat reply', hub.sendMessagingEvent(DEVICE_ID, chat).reply);
      if (answer.status !== 'completed') throw new Error(`the chat reply was ${answer.status}`);
      out.write(json ? `${JSON.stringify({ chat: 'out', status: answer.status, text: answer.text })}\n` : `  line  -> ${answer.text}\n`);

      narrate('ledger', 'step 9: the hub booked one usage report per execution in its ledger (GET /v1/usage?tenant=local)');
      await waitFor('every usage report acknowledged', () => connector.executions.outboxDepth === 0);
      const { totals } = hub.usage('local');
      out.write(
        json
          ? `${JSON.stringify({ ledger: totals })}\n`
          : `  ${totals.reports} reports, ${totals.duration_ms} ms, ${totals.input_tokens} tokens in, ${totals.output_tokens} out, cost ${totals.cost_estimate.toFixed(4)}\n`,
      );

      narrate(
        'settings',
        'step 10: an operator changes the organization settings at the hub (PATCH /v1/tenants/local/settings); the connector applies them live',
      );
      const shown = (settings: unknown) =>
        out.write(json ? `${JSON.stringify({ settings })}\n` : `  settings ${JSON.stringify(settings)}\n`);
      await waitFor('settings synced', (s) => s.settings.state === 'synced');
      shown(connector.settings.value);
      await hub.settings.patchOrg('local', { max_concurrent_tasks: 2, features: { task_sharing: true } });
      await withTimeout(
        'the org settings to apply',
        firstValueFrom(connector.settings.value$.pipe(filter((v) => v.max_concurrent_tasks === 2))),
      );
      shown(connector.settings.value);
      const edit = await withTimeout('the user edit', connector.settings.update({ theme: 'dark' }));
      narrate(
        'settings',
        `the user picks the dark theme on the device: ${edit.status} by the hub at version ${edit.version}; task_sharing is ${connector.settings.flag('task_sharing') ? 'on' : 'off'}`,
      );

      narrate('done', `scenario complete; devices on the hub: ${JSON.stringify(hub.devices().map((d) => d.device_id))}`);
      quietHeartbeats = true;
      return true;
    } catch (error) {
      narrate('failed', `scenario failed: ${(error as Error).message}`);
      return false;
    }
  })();

  return {
    hub,
    connector,
    adminUrl,
    ...(inspector && { inspector }),
    scenario,
    async stop() {
      await connector.stop();
      await inspector?.close();
      await hub.close();
    },
  };
}
