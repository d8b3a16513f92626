#!/usr/bin/env node
// Runs the TypeScript sources through tsx: cloudtether ships no build step yet.
import { register } from 'tsx/esm/api';

// A reader that stops early (`cloudtether demo --json | head`) is not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
}

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
