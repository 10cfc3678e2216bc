import type { Readable } from 'node:stream';
import { assertSegmentCrc } from './segment-crc.js';
import type { SegmentObjectMeta } from './deep-store.js';

/**
 * The checks every put() makes before touching storage: the URI lies in this store (`locate`), the CRC has
 * the shape of ZK's `segment.crc`, the call is not already aborted. A refused call destroys `body` as a
 * failed one does, so callers have a single rule: after put() the body is either consumed or destroyed.
 */
export function acceptPut<T>(
  body: Readable,
  meta: SegmentObjectMeta,
  signal: AbortSignal | undefined,
  locate: () => T,
): T {
  try {
    const target = locate();
    assertSegmentCrc(meta.crc);
    signal?.throwIfAborted();
    return target;
  } catch (err) {
    body.destroy();
    throw err;
  }
}
