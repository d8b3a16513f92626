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
 * A batch is written once it holds {@link MAX_HELD_BYTES}: a write's callbacks run when all of
 * it has gone out, so the hub's read gate (src/hub/session/read-gate.ts), which watches a slow
 * reader's progress by them, would otherwise see a turn's megabytes of answers leave at once.
 * The connector's socket adapter and the hub's sessions use it.
 */

/** What a socket holds before it is written anyway: a few dozen frames of an execution. */
export const MAX_HELD_BYTES = 16 * 1024;

// An array, not a Set: a Set cleared every turn gets a new hash table every turn, and V8 links
// each replaced table to the next, which kept a chain of them alive through the scavenges. Which
// sockets are held is a mark on the socket, so a hub holding thousands in a turn finds one at once.
const held: Socket[] = [];
const HELD = Symbol('cloudtether.heldWrites');
type Markable = Socket & { [HELD]?: boolean };
let scheduled = false;

/** The TCP socket under a `ws` WebSocket (its `_socket`; ws has no public accessor for it). */
function tcpOf(ws: WebSocket): Socket | undefined {
  return (ws as unknown as { _socket?: Socket | null })._socket ?? undefined;
}

function releaseAll(): void {
  scheduled = false;
  const sockets = held.splice(0);
  for (const socket of sockets) release(socket);
}

function release(socket: Socket): void {
  (socket as Markable)[HELD] = false;
  socket.uncork();
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
  if (socket === undefined) return;
  if ((socket as Markable)[HELD]) {
    if (socket.writableLength < MAX_HELD_BYTES) return;
    // Written now; it stays in the list, and is held again below only if nothing waits.
    release(socket);
  }
  // A socket with a backlog is not written to at once anyway: its frames queue behind it.
  if (socket.destroyed || socket.writableLength > 0) return;
  (socket as Markable)[HELD] = true;
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
  if (socket === undefined || !(socket as Markable)[HELD]) return;
  held.splice(held.indexOf(socket), 1);
  release(socket);
}
