import { ReadEntry, Unpack } from 'tar';
import { ArchiveLayoutError, CorruptArchiveError, SourceError, UnsafeEntryError } from './errors.js';

/**
 * Extraction of a downloaded segment archive into a private staging folder, refusing anything that is not a
 * plain segment tree. Pinot's reader (TarCompressionUtils.untar) rejects entries whose canonical path leaves
 * the output dir and takes the first entry as the segment directory (BaseTableDataManager.untarSegment:
 * `untar(...).get(0)`); we check the same, and more strictly, before node-tar writes anything:
 *
 * - node-tar's defaults only *warn* and skip on `..` and strip a leading `/`: an archive that tries either is
 *   hostile or broken, so here it fails the whole attempt (strict mode turns node-tar's own checks into errors
 *   too, as a second line).
 * - Links are refused, escaping or not: a Pinot segment holds only files and directories (the sidecar's own
 *   server refuses to archive a symlink), and a link inside the tree is how later writes escape it.
 * - Every entry must lie under `<segment>/`, the first being that directory itself.
 */

const ALLOWED_TYPES = new Set(['Directory', 'File', 'OldFile', 'ContiguousFile']);

export interface TarEntryHeader {
  /** The path exactly as the archive has it. */
  path: string;
  /** node-tar's type name: File, Directory, SymbolicLink, Link, ... */
  type: string;
}

/** Pure: the problem with the `index`-th entry of an archive of `segment`, or null when it may be extracted. */
export function checkEntry(entry: TarEntryHeader, index: number, segment: string): SourceError | null {
  const raw = entry.path;
  if (raw.startsWith('/') || raw.startsWith('\\') || /^[A-Za-z]:/.test(raw)) return new UnsafeEntryError(raw, 'absolute path');
  // node-tar also splits on backslashes when it looks for `..`; so do we.
  const parts = raw.split(/[/\\]/);
  if (parts.includes('..')) return new UnsafeEntryError(raw, "path contains '..'");
  if (entry.type === 'SymbolicLink' || entry.type === 'Link') {
    return new UnsafeEntryError(raw, `${entry.type === 'Link' ? 'hard link' : 'symbolic link'} (a Pinot segment holds only files and directories)`);
  }
  if (!ALLOWED_TYPES.has(entry.type)) return new UnsafeEntryError(raw, `entry type ${entry.type} (a Pinot segment holds only files and directories)`);
  const normalized = parts.filter((p) => p !== '' && p !== '.').join('/');
  if (index === 0) {
    if (entry.type !== 'Directory' || normalized !== segment) {
      return new ArchiveLayoutError(
        `the first entry is ${JSON.stringify(raw.slice(0, 200))} (${entry.type}), not the segment directory "${segment}/" that Pinot takes as the segment`,
      );
    }
    return null;
  }
  if (!normalized.startsWith(`${segment}/`)) {
    return new ArchiveLayoutError(`entry ${JSON.stringify(raw.slice(0, 200))} lies outside the segment directory "${segment}/"`);
  }
  return null;
}

/**
 * Extract an uncompressed tar stream into `cwd` (an empty staging folder). Resolves with the number of entries
 * once every file is on disk; rejects with the first refused entry (nothing after it is written) or with a
 * CorruptArchiveError for a tar that node-tar cannot read to its end.
 */
export async function extractSegmentTar(tar: AsyncIterable<Buffer>, cwd: string, segment: string): Promise<number> {
  let entries = 0;
  let refused: SourceError | undefined;
  const unpack = new Unpack({
    cwd,
    strict: true,
    preserveOwner: false,
    // Called with the raw header path before node-tar sanitises it or touches the disk.
    filter: (path, entry) => {
      const problem = checkEntry({ path, type: entry instanceof ReadEntry ? entry.type : 'File' }, entries, segment);
      entries += 1;
      if (problem === null) return true;
      refused ??= problem;
      unpack.abort(problem);
      return false;
    },
  });
  // Settles once node-tar has written every file ('close' follows 'end', which waits for pending writes).
  const finished = new Promise<void>((resolve, reject) => {
    unpack.once('error', reject);
    unpack.once('close', resolve);
  });
  finished.catch(() => {});
  try {
    for await (const chunk of tar) {
      if (!unpack.write(chunk)) await Promise.race([new Promise((resolve) => unpack.once('drain', resolve)), finished]);
    }
    unpack.end();
    await finished;
  } catch (err) {
    if (refused) throw refused;
    if (err instanceof SourceError) throw err;
    throw describeTarFailure(err);
  }
  if (refused) throw refused;
  if (entries === 0) throw new ArchiveLayoutError('the archive holds no entries');
  return entries;
}

function describeTarFailure(err: unknown): SourceError {
  const e = err as { tarCode?: unknown; code?: unknown; message?: unknown };
  const message = typeof e.message === 'string' ? e.message : String(err);
  if (typeof e.tarCode === 'string') return new CorruptArchiveError(`tar: ${message}`, { cause: err });
  // Anything else is local (a full disk, permissions on --out): still this attempt's failure, named as such.
  return new SourceError(`writing the extracted files failed: ${message}`, { cause: err });
}
