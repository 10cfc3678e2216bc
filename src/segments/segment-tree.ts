import type { BigIntStats } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';

export type TreeEntryKind = 'directory' | 'file' | 'symlink' | 'other';

export interface TreeEntry {
  /** POSIX path relative to the segment root, e.g. `v3/columns.psf`. */
  relPath: string;
  absPath: string;
  kind: TreeEntryKind;
  /** lstat of the entry (bigint, for nanosecond mtimes). */
  stats: BigIntStats;
}

/**
 * Walks a segment directory without following symlinks. Both the archive and the CRC start from
 * this one listing, so they can never disagree about what a segment contains.
 *
 * Every entry below `root` (not `root` itself), directories before their children, siblings in
 * code-unit order of their names. Pinot writes children in File.listFiles() order, which is
 * unspecified (TarCompressionUtils), so any order is valid for its reader; sorting makes ours
 * reproducible. Symlinks are reported, never followed.
 */
export async function walkSegmentTree(root: string): Promise<TreeEntry[]> {
  const entries: TreeEntry[] = [];
  await walkInto(root, '', entries);
  return entries;
}

async function walkInto(dir: string, relDir: string, out: TreeEntry[]): Promise<void> {
  const names = (await readdir(dir)).sort(compareCodeUnits);
  for (const name of names) {
    const absPath = path.join(dir, name);
    const relPath = relDir === '' ? name : `${relDir}/${name}`;
    const stats = await lstat(absPath, { bigint: true });
    const kind = kindOf(stats);
    out.push({ relPath, absPath, kind, stats });
    if (kind === 'directory') await walkInto(absPath, relPath, out);
  }
}

function kindOf(stats: BigIntStats): TreeEntryKind {
  if (stats.isSymbolicLink()) return 'symlink';
  if (stats.isDirectory()) return 'directory';
  if (stats.isFile()) return 'file';
  return 'other';
}

/**
 * UTF-16 code-unit order, what Java's String.compareTo (and so Pinot's Collections.sort of Files)
 * uses. Not localeCompare, which would order `B` after `a`.
 */
export function compareCodeUnits(a: string, b: string): number {
  if (a < b) return -1;
  return a > b ? 1 : 0;
}
