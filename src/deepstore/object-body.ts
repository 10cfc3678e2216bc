import type { Readable } from 'node:stream';

/**
 * Ties a body returned by get() to the caller's signal: aborting destroys it with `signal.reason` (the
 * DeepStoreCallOptions contract), and the listener goes away with the body, so a long-lived signal does not
 * collect one listener per object read.
 */
export function destroyOnAbort(body: Readable, signal: AbortSignal | undefined): Readable {
  if (signal === undefined) return body;
  if (signal.aborted) {
    body.destroy(signal.reason as Error);
    return body;
  }
  const onAbort = (): void => {
    body.destroy(signal.reason as Error);
  };
  signal.addEventListener('abort', onAbort, { once: true });
  body.once('close', () => signal.removeEventListener('abort', onAbort));
  return body;
}
