import type { RuntimeClock } from '../util/clock.ts';
import { HttpError, type HttpAdapter } from '../adapters/http.ts';
import type { SocketAdapter } from '../adapters/socket.ts';
import type { SessionRecorder } from './recorder.ts';

type Redact = <T>(value: T) => T;

/** A frame as a session file keeps it: parsed JSON when it is JSON (readable, diffable), else text. */
export function frameEntry(data: string | Buffer, redact: Redact): { frame: unknown } | { text: string } {
  const text = typeof data === 'string' ? data : data.toString('utf8');
  try {
    return { frame: redact(JSON.parse(text) as unknown) };
  } catch {
    return { text: redact(text) };
  }
}

/** A URL with the values of secret-named query parameters redacted (`?token=…`). */
export function redactUrl(url: string, redact: Redact): string {
  try {
    const parsed = new URL(url);
    const safe = redact(Object.fromEntries(parsed.searchParams));
    parsed.search = new URLSearchParams(safe).toString();
    return redact(parsed.toString());
  } catch {
    return redact(url);
  }
}

/**
 * Wraps a socket adapter so that every connection, frame and close goes into the session, in
 * the order the connector saw or did it. Connections are numbered from 1.
 */
export function recordingSocket(adapter: SocketAdapter, recorder: SessionRecorder, redact: Redact): SocketAdapter {
  let connections = 0;
  return {
    open(url, handlers, options) {
      const conn = ++connections;
      recorder.write({ kind: 'socket.open', conn, url: redactUrl(url, redact) });
      const connection = adapter.open(
        url,
        {
          onOpen: () => {
            recorder.write({ kind: 'socket.opened', conn });
            handlers.onOpen();
          },
          onMessage: (data) => {
            recorder.write({ kind: 'socket.message', conn, ...frameEntry(data, redact) });
            handlers.onMessage(data);
          },
          onError: (error) => {
            recorder.write({ kind: 'socket.error', conn, message: redact(error.message) });
            handlers.onError(error);
          },
          onClose: (code, reason) => {
            recorder.write({ kind: 'socket.closed', conn, code, reason: redact(reason) });
            handlers.onClose(code, reason);
          },
        },
        options,
      );
      return {
        send(data) {
          recorder.write({ kind: 'socket.send', conn, ...frameEntry(data, redact) });
          connection.send(data);
        },
        close(code, reason) {
          recorder.write({ kind: 'socket.close', conn, ...(code !== undefined && { code }), ...(reason !== undefined && { reason }) });
          connection.close(code, reason);
        },
        terminate() {
          recorder.write({ kind: 'socket.terminate', conn });
          connection.terminate();
        },
        get bufferedAmount() {
          return connection.bufferedAmount;
        },
      };
    },
  };
}

/** Wraps an HTTP adapter so that every request and its answer (or failure) go into the session, redacted. */
export function recordingHttp(adapter: HttpAdapter, recorder: SessionRecorder, redact: Redact): HttpAdapter {
  let requests = 0;
  return {
    async request(request) {
      const req = ++requests;
      recorder.write({
        kind: 'http.request',
        req,
        method: request.method,
        url: redactUrl(request.url, redact),
        ...(request.headers && { headers: redact(request.headers) }),
        ...(request.json !== undefined && { json: redact(request.json) }),
      });
      try {
        const response = await adapter.request(request);
        recorder.write({
          kind: 'http.response',
          req,
          status: response.status,
          headers: redact(response.headers),
          ...(response.body !== undefined && { body: redact(response.body) }),
        });
        return response;
      } catch (error) {
        const kind = error instanceof HttpError ? error.kind : 'network';
        recorder.write({ kind: 'http.failed', req, error: kind, message: redact((error as Error).message) });
        throw error;
      }
    },
  };
}

/** Wraps a clock so that each timer that fires is in the session, with its delay and when it was set. */
export function recordingClock(clock: RuntimeClock, recorder: SessionRecorder): RuntimeClock {
  return {
    now: () => clock.now(),
    setTimeout: (fn, ms) => {
      const setAt = clock.now();
      return clock.setTimeout((...args: unknown[]) => {
        recorder.write({ kind: 'timer', ms, set_at: setAt });
        fn(...args);
      }, ms);
    },
    clearTimeout: (id) => clock.clearTimeout(id),
  };
}
