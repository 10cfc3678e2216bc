import { defineConfig } from 'vitest/config';

/**
 * The real-Pinot suite's own config (npm run test:pinot, through run.ts). Its files are named *.pinot.ts, so the
 * main config (test/**\/*.test.ts) never sees them: `npm test` stays light and needs no Java cluster.
 */
export default defineConfig({
  test: {
    root: new URL('../..', import.meta.url).pathname,
    include: ['test/pinot/**/*.pinot.ts'],
    reporters: ['default', './test/setup/summary-reporter.ts'],
    // One cluster at a time: one file, one worker.
    fileParallelism: false,
    maxWorkers: 1,
    testTimeout: 300_000,
    hookTimeout: 600_000,
  },
});
