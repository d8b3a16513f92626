import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';

/*
 * Frames sent in one turn of the event loop leave in one write. `ws` writes every frame to its
 * TCP socket at once, one system call each; an execution's four events, or the acks for a
 * burst of frames, cost four or more. Corking the socket on the first send of a turn and
 * uncorking it in the loop's check phase (setImmediate: after this turn's I/O callbacks and
 * every promise they started) sends them together (bench/round-trip: writev was 13 % of the
 * device's CPU). It adds no timer delay: the write happens before the loop waits again.
 *
 * The connector's socket adapter uses it; the hub does not: its read gate (src/hub/session/read-gate.ts)
 * watches a slow reader's progress write by write, and a batch leaves the buffer all at once.
 */

// An array, not a Set: a Set cleared every turn gets a new hash table every turn, and V8 links
// each replaced table to the next, which kept a chain of them alive through the scavenges.
const held: Socket[] = [];
let scheduled = false;

/** The TCP socket under a `ws` WebSocket (its `_socket`; ws has no public accessor for it). */
function tcpOf(ws: WebSocket): Socket | undefined {
  return (ws as unknown as { _socket?: Socket | null })._socket ?? undefined;
}

function releaseAll(): void {
  scheduled = false;
  const sockets = held.splice(0);
  for (const socket of sockets) socket.uncork();
}

/**
 * Call before `ws.send`: holds this turn's frames for `ws` and writes them together at its end.
 *
 * @example
 * holdWrites(ws);
 * ws.send(frame);
 */
export function holdWrites(ws: WebSocket): void {
  const socket = tcpOf(ws);
  // A socket with a backlog is not written to at once anyway: its frames queue behind it.
  if (socket === undefined || held.includes(socket) || socket.destroyed || socket.writableLength > 0) return;
  held.push(socket);
  socket.cork();
  if (!scheduled) {
    scheduled = true;
    setImmediate(releaseAll);
  }
}

/** Writes what is held for `ws` now: before `terminate()`, which would discard it. */
export function releaseWrites(ws: WebSocket): void {
  const socket = tcpOf(ws);
  if (socket === undefined) return;
  const index = held.indexOf(socket);
  if (index === -1) return;
  held.splice(index, 1);
  socket.uncork();
}
