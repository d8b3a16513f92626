import type { SessionEntry, SessionFile } from './format.ts';

const MAX_DETAIL = 160;

/**
 * One entry as a line a person can read: time since the start, then what happened.
 * `→` is the connector acting (sending, requesting), `←` the world answering.
 *
 * @example
 * formatEntry({ kind: 'socket.send', at: 1_500, conn: 1, frame: { type: 'connect' } }, 0);
 * // '+   1.500s  ws#1 → connect {"type":"connect"}'
 */
export function formatEntry(entry: SessionEntry, startedAt: number): string {
  const time = `+${((entry.at - startedAt) / 1000).toFixed(3).padStart(8)}s`;
  return `${time}  ${describe(entry, startedAt)}`;
}

/** The whole session as a timeline, a header line first (`cloudtether replay FILE`). */
export function formatTimeline(session: SessionFile, options: { transitions?: boolean } = {}): string[] {
  const { header } = session;
  const config = header.config as { url?: string; deviceId?: string; tenantId?: string; seed?: number };
  const lines = [
    `session v${header.version} by cloudtether ${header.library}, started ${new Date(header.started_at).toISOString()}`,
    `device ${config.deviceId ?? '?'} tenant ${config.tenantId ?? '?'} hub ${config.url ?? '(standalone)'} seed ${config.seed ?? '?'}`,
  ];
  for (const { entry } of session.entries) {
    if (entry.kind === 'transition' && options.transitions === false) continue;
    lines.push(formatEntry(entry, header.started_at));
  }
  return lines;
}

function describe(entry: SessionEntry, startedAt: number): string {
  switch (entry.kind) {
    case 'socket.open':
      return `ws#${entry.conn} → open ${entry.url}`;
    case 'socket.opened':
      return `ws#${entry.conn} ← open`;
    case 'socket.send':
      return `ws#${entry.conn} → ${frameLine(entry)}`;
    case 'socket.message':
      return `ws#${entry.conn} ← ${frameLine(entry)}`;
    case 'socket.close':
      return `ws#${entry.conn} → close ${entry.code ?? ''} ${entry.reason ?? ''}`.trimEnd();
    case 'socket.terminate':
      return `ws#${entry.conn} → terminate`;
    case 'socket.error':
      return `ws#${entry.conn} ← error ${entry.message}`;
    case 'socket.closed':
      return `ws#${entry.conn} ← closed ${entry.code} ${entry.reason}`.trimEnd();
    case 'http.request':
      return `http#${entry.req} → ${entry.method} ${entry.url}${entry.json === undefined ? '' : ` ${short(entry.json)}`}`;
    case 'http.response':
      return `http#${entry.req} ← ${entry.status}${entry.body === undefined ? '' : ` ${short(entry.body)}`}`;
    case 'http.failed':
      return `http#${entry.req} ← failed (${entry.error}) ${entry.message}`;
    case 'timer':
      return `timer of ${entry.ms} ms fired (set at +${((entry.set_at - startedAt) / 1000).toFixed(3)}s)`;
    case 'transition':
      return `${entry.actor.replace(/^supervisor\//, '')}: ${entry.from.at(-1) ?? '?'} → ${entry.to.at(-1) ?? '?'} on ${entry.event}${entry.reason ? ` (${entry.reason})` : ''}`;
    case 'host':
      return `host ${entry.call}${entry.args ? ` ${short(entry.args)}` : ''}`;
    case 'answer':
      return `host ${entry.call} → ${entry.error !== undefined ? `rejected ${entry.error}` : entry.value === undefined ? 'done' : short(entry.value)}`;
    case 'end':
      return `end (${entry.reason})`;
  }
}

function frameLine(entry: { frame?: unknown; text?: string }): string {
  if (entry.frame === undefined) return `text ${short(entry.text ?? '')}`;
  const type = (entry.frame as { type?: unknown }).type;
  return `${typeof type === 'string' ? type : 'frame'} ${short(entry.frame)}`;
}

function short(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > MAX_DETAIL ? `${text.slice(0, MAX_DETAIL - 1)}…` : text;
}
