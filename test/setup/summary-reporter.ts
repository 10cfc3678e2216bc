import type { SerializedError } from 'vitest';
import type { Reporter, TestModule } from 'vitest/node';

/**
 * vitest prints no "N passed, N failed" line; CI reads exactly that as the run's last line. It must never say
 * "0 failed" for a run that failed, so besides failed tests it counts, each as one failure: every unhandled
 * error (an exception thrown outside any test, even after every test passed), and every error a file or suite
 * reports outside its tests (a failing beforeAll/afterAll, a file that does not load). Tests skipped because
 * their beforeAll failed stay "skipped"; the hook's error is what fails the run.
 */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<SerializedError>): void {
    const counts = countResults(testModules);
    const failed = counts.failed + counts.errorsOutsideTests + unhandledErrors.length;
    process.stdout.write(`\n${counts.passed} passed, ${failed} failed, ${counts.skipped} skipped\n`);
  }
}

function countResults(testModules: ReadonlyArray<TestModule>): {
  passed: number;
  failed: number;
  skipped: number;
  errorsOutsideTests: number;
} {
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  let errorsOutsideTests = 0;
  for (const mod of testModules) {
    for (const test of mod.children.allTests()) {
      const state = test.result().state;
      if (state === 'passed') passed += 1;
      else if (state === 'failed') failed += 1;
      else skipped += 1;
    }
    let moduleErrors = mod.errors().length;
    for (const suite of mod.children.allSuites()) moduleErrors += suite.errors().length;
    errorsOutsideTests += moduleErrors;
    // A module that failed without saying why (no test failed, no error recorded) still failed.
    const testFailed = [...mod.children.allTests()].some((t) => t.result().state === 'failed');
    if (mod.state() === 'failed' && moduleErrors === 0 && !testFailed) errorsOutsideTests += 1;
  }
  return { passed, failed, skipped, errorsOutsideTests };
}
