import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // One real ZooKeeper for the whole run; files that stop, pause or restart ZooKeeper start their own. The GCS
    // emulator's binary is found or built before any file starts.
    globalSetup: ['test/setup/zookeeper.ts', 'test/setup/fake-gcs.ts'],
    reporters: ['default', './test/setup/summary-reporter.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // 2-core machines: more workers than cores only adds ZooKeeper contention.
    maxWorkers: 2,
  },
});
