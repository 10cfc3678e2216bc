import { lstat } from 'node:fs/promises';
import path from 'node:path';
import { errorMessage } from '../../errors.js';
import {
  CorruptSegmentError,
  InvalidNameError,
  SegmentNotFoundError,
  type SegmentStore,
  type ResolvedSegment,
} from '../../segments/index.js';
import type { LocalCheck } from './eligibility.js';

/** This server's copy of a segment, as the eligibility rules need it. */
export type LocalCopy =
  | (LocalCheck & { kind: Exclude<LocalCheck['kind'], 'sealed'> })
  | { kind: 'sealed'; crc: string; resolved: ResolvedSegment };

/**
 * Looks at this server's copy of a segment, as the eligibility rules need it (IO at the edge; the rules stay
 * pure). The store resolves only sealed, safe directories; when it says "not found", one lstat per root (the data
 * dir, then each tier's) tells the two cases an operator handles differently apart: no directory at all
 * (not_local) or one that is not sealed yet.
 */
export async function inspectLocalCopy(
  store: SegmentStore,
  tableNameWithType: string,
  segment: string,
): Promise<LocalCopy> {
  try {
    const resolved = await store.resolve(tableNameWithType, segment);
    return { kind: 'sealed', crc: resolved.creationMeta.crcString, resolved };
  } catch (err) {
    if (err instanceof InvalidNameError) return { kind: 'invalid_name', detail: err.message };
    if (err instanceof CorruptSegmentError) return { kind: 'corrupt', detail: err.message };
    if (err instanceof SegmentNotFoundError) {
      const isDir = await Promise.all(
        store.roots.map((root) =>
          lstat(path.join(root, tableNameWithType, segment)).then(
            (s) => s.isDirectory(),
            () => false,
          ),
        ),
      );
      return isDir.includes(true) ? { kind: 'unsealed', detail: err.reason } : { kind: 'absent', detail: err.reason };
    }
    return { kind: 'unreadable', detail: errorMessage(err) };
  }
}
