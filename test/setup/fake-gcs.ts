import type { TestProject } from 'vitest/node';
import { ensureFakeGcsServer, FAKE_GCS_MODULE } from '../helpers/fake-gcs.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The fake-gcs-server binary the GCS tests start (startFakeGcs), or why there is none. */
    fakeGcsServer: { binary: string } | { error: string };
  }
}

/**
 * Finds fake-gcs-server, or builds it with `go install` (from the Go module proxy), once, before any test file
 * starts. A fresh machine spends minutes on it (modules, then a compile on every core): inside a test file's
 * hook that outran the hook's timeout, and the suite's load made it slower still. A failure does not stop the
 * run; each GCS test then fails at once, saying why.
 */
export default async function setup(project: TestProject): Promise<void> {
  const started = Date.now();
  try {
    const binary = await ensureFakeGcsServer({
      onInstall: () => console.log(`setup: building ${FAKE_GCS_MODULE} with go install (once per machine)`),
    });
    if (Date.now() - started > 1_000) console.log(`setup: ${binary} ready in ${Date.now() - started} ms`);
    project.provide('fakeGcsServer', { binary });
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    console.warn(`setup: ${error}`);
    project.provide('fakeGcsServer', { error });
  }
}
