import { WebSocket } from 'ws';
import { onTestFinished } from 'vitest';
import type { ServerMessage } from '../../src/inspector-page/messages.ts';
import type { InspectionStream } from '../../src/inspection-events/stream.ts';
import type { InspectableConnector } from '../../src/inspector-page/server.ts';

/** An inspector page as a test drives it: its socket, every message it got, and a way to wait for one. */
export interface PageClient {
  ws: WebSocket;
  messages: ServerMessage[];
  /** Resolves with the first message (already received or to come) that passes `predicate`. */
  next(predicate: (message: ServerMessage) => boolean): Promise<ServerMessage>;
  /** Resolves with the close code and reason. */
  closed: Promise<{ code: number; reason: string }>;
}

/** The WebSocket URL of an inspector page URL (`http://host:port/?token=…` → `ws://host:port/ws?token=…`). */
export function socketUrl(pageUrl: string): string {
  const url = new URL(pageUrl);
  return `ws://${url.host}/ws${url.search}`;
}

/** Opens the page's WebSocket the way the page does; closed when the test ends. */
export async function openPage(pageUrl: string): Promise<PageClient> {
  const ws = new WebSocket(socketUrl(pageUrl));
  const messages: ServerMessage[] = [];
  const waiters: Array<{ predicate: (m: ServerMessage) => boolean; resolve: (m: ServerMessage) => void }> = [];
  ws.on('message', (data) => {
    const message = JSON.parse(String(data)) as ServerMessage;
    messages.push(message);
    for (const waiter of [...waiters]) {
      if (!waiter.predicate(message)) continue;
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve(message);
    }
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: String(reason) })),
  );
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  onTestFinished(() => ws.terminate());
  return {
    ws,
    messages,
    closed,
    next(predicate) {
      const seen = messages.find(predicate);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve) => waiters.push({ predicate, resolve }));
    },
  };
}

/** The HTTP status an upgrade to `url` is refused with (rejects when it is accepted). */
export function refusedUpgrade(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.on('open', () => {
      ws.terminate();
      reject(new Error(`the upgrade to ${url} was accepted`));
    });
    ws.on('error', () => {});
  });
}

/**
 * What the inspector sees of a connector, with another inspection stream: a test feeds its own
 * machines through `stream` and keeps the connector's status and executions.
 */
export function withInspection(connector: Omit<InspectableConnector, 'inspection'>, stream: InspectionStream): InspectableConnector {
  return {
    inspection: stream,
    state$: connector.state$,
    get status() {
      return connector.status;
    },
    get executions() {
      return connector.executions;
    },
  };
}
