import { Worker } from 'node:worker_threads';
import type { ElkNode } from 'elkjs/lib/elk-api.js';

interface Pending {
  resolve: (graph: ElkNode) => void;
  reject: (error: Error) => void;
}

let worker: Worker | undefined;
const pending = new Map<number, Pending>();
let nextId = 0;

/**
 * Lays a graph out with ELK on a worker thread. A big statechart takes ELK up to half a second of
 * CPU; on the main thread that would hold up the connector's heartbeats and sockets (and a hub's,
 * in the demo) for as long. One thread serves the whole process, started on first use; it does
 * not keep the process alive while idle.
 *
 * @example
 * const laid = await elkLayout({ id: 'root', layoutOptions: { 'elk.algorithm': 'layered' }, children, edges });
 */
export function elkLayout(graph: ElkNode): Promise<ElkNode> {
  const thread = (worker ??= start());
  const id = nextId++;
  if (pending.size === 0) thread.ref();
  return new Promise<ElkNode>((resolve, reject) => {
    pending.set(id, { resolve, reject });
    thread.postMessage({ id, graph });
  });
}

function start(): Worker {
  const thread = new Worker(new URL('./elk-worker.js', import.meta.url));
  thread.on('message', ({ id, graph, error }: { id: number; graph?: ElkNode; error?: string }) => {
    const request = pending.get(id);
    if (!request) return;
    pending.delete(id);
    if (pending.size === 0) thread.unref();
    if (error !== undefined) request.reject(new Error(`ELK layout failed: ${error}`));
    else request.resolve(graph!);
  });
  // A crashed thread fails what it held; the next layout starts a new one.
  const fail = (error: Error) => {
    if (worker === thread) worker = undefined;
    for (const request of pending.values()) request.reject(error);
    pending.clear();
  };
  thread.on('error', fail);
  thread.on('exit', (code) => fail(new Error(`the ELK thread exited (${code})`)));
  thread.unref();
  return thread;
}
