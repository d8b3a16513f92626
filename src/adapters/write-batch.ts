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
 *
 * Work that sends at the end of a turn (the hub's coalesced acks) runs in the same check-phase
 * callback, right before the held frames are written ({@link beforeHeldWrites}): one
 * `setImmediate` per turn rather than one per kind of work, and what it sends leaves in that
 * turn's write whichever of the two was queued first.
 *
 * Work that need not come before the write (bookkeeping after an execution ends) runs right after
 * it ({@link afterHeldWrites}): the write leaves first, and the peer works on it while this side
 * does the rest. When one execution at a time crosses the wire, each side's work before its write
 * is the other side's wait (bench/round-trip, docs/performance.md).
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
/** Tasks for the end of this turn, run before the held sockets are written (same reasoning as `held`: an array). */
const tasks: Array<() => void> = [];
/** Tasks for right after the held sockets are written (an array, as `tasks`). */
const afterTasks: Array<() => void> = [];

/** The TCP socket under a `ws` WebSocket (its `_socket`; ws has no public accessor for it). */
function tcpOf(ws: WebSocket): Socket | undefined {
  return (ws as unknown as { _socket?: Socket | null })._socket ?? undefined;
}

function releaseAll(): void {
  // Still marked scheduled while the tasks run: a socket they hold joins this release, not the next turn's.
  let failure = runAll(tasks, undefined);
  scheduled = false;
  const sockets = held.splice(0);
  for (const socket of sockets) release(socket);
  // What these tasks send goes in the next turn's batch: they run after this one's write.
  failure = runAll(afterTasks, failure);
  if (failure) throw failure.error;
}

/**
 * Runs each task once, in order, and empties the list (a task queued meanwhile runs in this pass);
 * one that throws does not stop the others.
 * The first error is kept (with `failure`, the one already kept) and thrown by the caller after
 * the write, as a callback's would be.
 */
function runAll(list: Array<() => void>, failure: { error: unknown } | undefined): { error: unknown } | undefined {
  for (let i = 0; i < list.length; i++) {
    try {
      list[i]!();
    } catch (error) {
      failure ??= { error };
    }
  }
  list.length = 0;
  return failure;
}

function schedule(): void {
  if (scheduled) return;
  scheduled = true;
  setImmediate(releaseAll);
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
  schedule();
}

/**
 * Runs `task` at the end of this turn (the loop's check phase), right before the frames held by
 * {@link holdWrites} are written: what it sends leaves in the same write. Tasks run in the order
 * given, each once.
 *
 * @example
 * beforeHeldWrites(() => session.sendBuilt(ackMessage(upTo)));
 */
export function beforeHeldWrites(task: () => void): void {
  tasks.push(task);
  schedule();
}

/**
 * Runs `task` at the end of this turn, right after the frames held by {@link holdWrites} are
 * written: for work this turn's frames do not wait on, so the peer has them sooner. Tasks run in
 * the order given, each once; what one sends leaves in the next turn's write.
 *
 * @example
 * afterHeldWrites(() => records.trim());
 */
export function afterHeldWrites(task: () => void): void {
  afterTasks.push(task);
  schedule();
}

/**
 * {@link afterHeldWrites} as a promise: resolves right after this turn's held frames are written,
 * for bookkeeping that awaits its turn.
 *
 * @example
 * await heldWritesDone();
 * await outbox.ack(seq);
 */
export function heldWritesDone(): Promise<void> {
  return new Promise((resolve) => afterHeldWrites(resolve));
}

/** Writes what is held for `ws` now: before `terminate()`, which would discard it. */
export function releaseWrites(ws: WebSocket): void {
  const socket = tcpOf(ws);
  if (socket === undefined || !(socket as Markable)[HELD]) return;
  // Not in the list while `releaseAll` writes its batch: splice(-1) would take another socket out, left corked.
  const at = held.indexOf(socket);
  if (at !== -1) held.splice(at, 1);
  release(socket);
}
