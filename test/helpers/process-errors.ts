/**
 * The uncaught exceptions and unhandled rejections of this process while a test runs: an error event nobody
 * listens to (a stream's late 'error' after its owner moved on) surfaces here, not in the test's own awaits.
 * Vitest reports them too, but only at the end of the run; recording them lets a test assert there were none.
 */
export interface ProcessErrorRecorder {
  readonly errors: readonly unknown[];
  stop(): void;
}

export function recordProcessErrors(): ProcessErrorRecorder {
  const errors: unknown[] = [];
  const record = (err: unknown) => {
    errors.push(err);
  };
  process.on('uncaughtException', record);
  process.on('unhandledRejection', record);
  return {
    errors,
    stop() {
      process.off('uncaughtException', record);
      process.off('unhandledRejection', record);
    },
  };
}
