import { defineConfig } from 'vitest/config';

/** Runs the reporter fixtures (test/setup/summary-reporter.test.ts), never part of the main run. */
export default defineConfig({
  test: {
    root: import.meta.dirname,
    include: [process.env.REPORTER_FIXTURE ?? '*.fixture.ts'],
    reporters: ['../summary-reporter.ts'],
  },
});
