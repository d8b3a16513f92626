#!/usr/bin/env node
// The CLI, from the compiled build (`npm run build` writes dist/; an installed package ships it).
import { existsSync } from 'node:fs';

// A reader that stops early (`cloudtether demo --json | head`) is not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
}

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  console.error('cloudtether: dist/ is missing; in a clone of the repository, run `npm run build` (npm start and npm test do it first)');
  process.exit(1);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
