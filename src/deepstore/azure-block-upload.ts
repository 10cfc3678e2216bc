// A streamed block-blob upload with bounded memory: the body is cut into blocks, a few are staged at a time
// (Put Block), and one Put Block List makes them the blob, whole, with its metadata and its condition. A body
// that fits in one block goes as one Put Blob instead. The store supplies the three requests (BlockRequests);
// this module owns only the order, the buffers and the clean stop on the first failure.

import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';

/** The requests of one upload, each given the signal that cancels it on the wire. */
export interface BlockRequests {
  /** Put Blob: the whole body, when it fits in one block. */
  putWhole(data: Buffer, signal: AbortSignal): Promise<void>;
  /** Put Block: stage one block under `blockId` (base64). */
  stageBlock(blockId: string, data: Buffer, signal: AbortSignal): Promise<void>;
  /** Put Block List: commit `blockIds` in order as the blob, `bytes` long. */
  commit(blockIds: string[], bytes: number, signal: AbortSignal): Promise<void>;
}

export interface BlockUploadOptions {
  blockSizeBytes: number;
  /** Blocks staged at once. Memory is about (concurrency + 1) blocks. */
  concurrency: number;
  signal?: AbortSignal | undefined;
}

/** Why an upload stopped: the store refused a request, the body failed, or the caller aborted. */
export class BlockUploadFailure extends Error {
  constructor(
    readonly from: 'store' | 'body' | 'signal',
    readonly error: unknown,
  ) {
    super(`block upload stopped (${from})`);
  }
}

/**
 * Block ids of one upload: a random nonce per upload, then the block's index, all the same length (Azure
 * requires one length for every block id of a blob). The nonce keeps two writers of the same blob (two replicas
 * repairing one segment) from committing each other's blocks: each commits only ids it staged itself.
 */
export function blockIdsFor(nonce: string): (index: number) => string {
  return (index) => Buffer.from(`${nonce}-${String(index).padStart(6, '0')}`).toString('base64');
}

/**
 * Upload `body` through `requests`. Resolves with the number of bytes once the blob is committed. On the first
 * failure (a request, the body, the caller's signal) it stops reading, cancels every request still on the wire,
 * destroys `body`, and rejects with a BlockUploadFailure saying where the failure came from. Blocks already
 * staged stay uncommitted: invisible to readers, discarded by the blob's next commit or by Azure after 7 days.
 */
export async function uploadInBlocks(
  body: Readable,
  requests: BlockRequests,
  options: BlockUploadOptions,
): Promise<{ bytes: number }> {
  const { blockSizeBytes, concurrency, signal } = options;
  const wire = new AbortController();
  let failure: BlockUploadFailure | undefined;
  const fail = (from: BlockUploadFailure['from'], error: unknown): void => {
    if (failure !== undefined) return;
    failure = new BlockUploadFailure(from, error);
    wire.abort(error);
    body.destroy();
  };
  const onAbort = (): void => fail('signal', signal?.reason);
  if (signal?.aborted) onAbort();
  else signal?.addEventListener('abort', onAbort, { once: true });

  const idOf = blockIdsFor(randomBytes(6).toString('hex'));
  const ids: string[] = [];
  const inFlight = new Set<Promise<void>>();
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let bytes = 0;

  const stage = async (data: Buffer): Promise<void> => {
    const id = idOf(ids.length);
    ids.push(id);
    const request = requests.stageBlock(id, data, wire.signal).catch((err: unknown) => fail('store', err));
    const tracked = request.finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
    // Back-pressure: the body is not read further while `concurrency` blocks are on the wire.
    while (inFlight.size >= concurrency && failure === undefined) await Promise.race(inFlight);
  };

  try {
    try {
      for await (const chunk of body as AsyncIterable<Buffer | string>) {
        if (failure !== undefined) break;
        let rest = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
        bytes += rest.length;
        while (rest.length > 0 && failure === undefined) {
          const room = blockSizeBytes - pendingBytes;
          pending.push(rest.subarray(0, room));
          pendingBytes += Math.min(room, rest.length);
          rest = rest.subarray(room);
          if (pendingBytes === blockSizeBytes) {
            const block = Buffer.concat(pending);
            pending = [];
            pendingBytes = 0;
            await stage(block);
          }
        }
      }
    } catch (err) {
      // A body destroyed by fail() ends its iteration with a premature-close error: the failure is fail()'s.
      fail('body', err);
    }
    if (failure === undefined) {
      if (ids.length === 0) {
        await requests.putWhole(Buffer.concat(pending), wire.signal).catch((err: unknown) => fail('store', err));
      } else {
        if (pendingBytes > 0) await stage(Buffer.concat(pending));
        await Promise.all(inFlight);
        if (failure === undefined)
          await requests.commit(ids, bytes, wire.signal).catch((err: unknown) => fail('store', err));
      }
    }
    await Promise.all(inFlight);
    if (failure !== undefined) throw failure;
    return { bytes };
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}
