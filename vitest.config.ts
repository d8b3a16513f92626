import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    reporters: ['default', './test/support/summary-reporter.ts'],
    setupFiles: ['./test/support/loopback-only.ts'],
    // Hang guards, not speed limits: tests wait on events and states, and a busy machine (see
    // `npm run test:busy`) may make a test that takes 2 s idle take ten times as long.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
  },
});
