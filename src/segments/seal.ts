import type { BigIntStats } from 'node:fs';
import { lstat } from 'node:fs/promises';
import path from 'node:path';
import { SidecarError } from '../errors.js';
import {
  CREATION_META_CANDIDATES,
  CreationMetaError,
  parseCreationMeta,
  type CreationMeta,
} from '../pinot-format/index.js';
import { CorruptSegmentError, SegmentChangedError, SegmentReadError } from './errors.js';
import { readFileSnapshot, snapshotChange, type FileSnapshot } from './file-identity.js';
import { isVanished, lstatIfExists } from './fs-calls.js';

/** Far above the 16 or 24 bytes of a real file; anything bigger is not read into memory. */
const MAX_CREATION_META_BYTES = 4096;

/**
 * A sealed segment's `creation.meta`, also the baseline of the consistency guard: if its bytes, inode or
 * mtime change while we read the segment, Pinot replaced or rebuilt it under us.
 */
export interface Seal {
  creationMetaPath: string;
  creationMeta: CreationMeta;
  snapshot: FileSnapshot;
}

/** `absent`: no creation.meta where Pinot looks (still being built, or not a segment at all). */
export type SealLookup = { sealed: true; seal: Seal } | { sealed: false; reason: string; absent?: true };

/**
 * A segment directory is sealed when it holds `creation.meta`: BaseSegmentCreator writes it last
 * (persistCreationMeta, after v3 conversion and post-creation indexes), so a directory without it is
 * still being built or copied.
 *
 * Finds `creation.meta` where Pinot looks for it (v3/ first, then the top level: findFormatFile).
 * No component may be a symlink; a wrong-sized file is a CorruptSegmentError, not "unsealed".
 */
export async function readSeal(segmentDir: string): Promise<SealLookup> {
  for (const candidate of CREATION_META_CANDIDATES) {
    let current = segmentDir;
    let missing = false;
    for (const [index, component] of candidate.entries()) {
      current = path.join(current, component);
      const isLast = index === candidate.length - 1;
      const stats = await lstatIfExists(current);
      if (stats === undefined) {
        missing = true;
        break;
      }
      if (stats.isSymbolicLink())
        return { sealed: false, reason: `${candidate.slice(0, index + 1).join('/')} is a symlink` };
      if (isLast ? !stats.isFile() : !stats.isDirectory()) {
        return { sealed: false, reason: `${candidate.slice(0, index + 1).join('/')} has an unexpected file type` };
      }
    }
    if (missing) continue;
    // O_NOFOLLOW in readFileSnapshot closes the window between the lstat above and the open.
    const snapshot = await readFileSnapshot(current, MAX_CREATION_META_BYTES).catch((err: unknown) => {
      if (isVanished(err)) return undefined;
      if (err instanceof SidecarError) throw err;
      throw new SegmentReadError(current, { cause: err });
    });
    if (snapshot === undefined) return { sealed: false, reason: 'creation.meta vanished or became a symlink' };
    return {
      sealed: true,
      seal: { creationMetaPath: current, creationMeta: readCreationMeta(snapshot.bytes, current), snapshot },
    };
  }
  return { sealed: false, reason: 'no creation.meta (not sealed)', absent: true };
}

/** The seal's content; a file Pinot never writes is a CorruptSegmentError naming it. */
function readCreationMeta(bytes: Uint8Array, file: string): CreationMeta {
  try {
    return parseCreationMeta(bytes);
  } catch (err) {
    if (err instanceof CreationMetaError) throw new CorruptSegmentError(file, err.reason, { cause: err });
    throw err;
  }
}

/** The directory identity that must not change while a segment is read: a rename-over changes the inode. */
export interface DirIdentity {
  dev: bigint;
  ino: bigint;
}

/**
 * Throws SegmentChangedError unless the directory is still the same inode and `creation.meta` still
 * has the same inode, size, mtime and bytes as when the segment was resolved. Returns the directory's lstat taken
 * for the check, so a caller that also needs it (the archive's first entry) does not ask the disk twice.
 */
export async function assertSealUnchanged(segment: {
  dir: string;
  dirIdentity: DirIdentity;
  seal: Seal;
}): Promise<BigIntStats> {
  const { dir, dirIdentity, seal } = segment;
  let change: string | undefined;
  let stats: BigIntStats;
  try {
    stats = await lstat(dir, { bigint: true });
    if (stats.dev !== dirIdentity.dev || stats.ino !== dirIdentity.ino) change = 'directory was replaced';
    else {
      const now = await readFileSnapshot(seal.creationMetaPath, MAX_CREATION_META_BYTES);
      const metaChange = snapshotChange(seal.snapshot, now);
      if (metaChange !== undefined) change = `creation.meta ${metaChange}`;
    }
  } catch (err) {
    throw new SegmentChangedError(
      dir,
      isVanished(err) ? 'directory or creation.meta disappeared' : 'seal no longer readable',
      {
        cause: err,
      },
    );
  }
  if (change !== undefined) throw new SegmentChangedError(dir, change);
  return stats;
}
