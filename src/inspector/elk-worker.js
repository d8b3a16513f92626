// The ELK layout engine on a thread of its own (started by src/inspector/elk-thread.ts). Plain
// JavaScript so that Node runs it without a TypeScript loader.
import { parentPort } from 'node:worker_threads';
import ELK from 'elkjs/lib/elk.bundled.js';

const elk = new ELK();

parentPort.on('message', async ({ id, graph }) => {
  try {
    parentPort.postMessage({ id, graph: await elk.layout(graph) });
  } catch (error) {
    parentPort.postMessage({ id, error: error instanceof Error ? error.message : String(error) });
  }
});
