import { expect, it } from 'vitest';

// An error thrown outside any test's promise chain: vitest reports it as an unhandled error.
it('passes, but leaves an uncaught exception behind', async () => {
  setTimeout(() => {
    throw new Error('uncaught after the test');
  }, 0);
  await new Promise((resolve) => setTimeout(resolve, 50));
  expect(true).toBe(true);
});
