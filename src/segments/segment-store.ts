import type { BigIntStats } from 'node:fs';
import { readdir, realpath } from 'node:fs/promises';
import path from 'node:path';
import type { CreationMeta } from './creation-meta.js';
import { CorruptSegmentError, InvalidNameError, SegmentNotFoundError, SegmentReadError } from './errors.js';
import { lstatIfExists } from './fs-calls.js';
import { isTransientDirName } from './layout.js';
import { parseTableName, tableNameWithType, validateSegmentName, type TableType } from './names.js';
import { readSeal, type DirIdentity, type Seal } from './seal.js';

/** A sealed segment directory found on local disk, with the baseline of the consistency guard. */
export interface ResolvedSegment {
  tableNameWithType: string;
  segmentName: string;
  /** Canonical absolute path (realpath) of the segment directory. */
  dir: string;
  creationMeta: CreationMeta;
  creationMetaPath: string;
  dirIdentity: DirIdentity;
  seal: Seal;
}

/**
 * Raw table names are tried as REALTIME first, then OFFLINE. Peer download, pauseless consumption and
 * deep-store repair (everything this sidecar exists for) concern realtime segments, so when a hybrid
 * table holds the same segment name in both, the copy a peer asks for is the realtime one. Pinot's
 * own path `/segments/{tableNameWithType}/...` always carries the type and never hits this rule.
 */
const RAW_NAME_RESOLUTION_ORDER: readonly TableType[] = ['REALTIME', 'OFFLINE'];

type Lookup = { found: true; segment: ResolvedSegment } | { found: false; reason: string };

/**
 * The segments of one Pinot server's data dir (`<dataDir>/<tableNameWithType>/<segment>/`), read-only.
 *
 * Names from requests are validated first, and the only paths ever built are `dataDir/table/segment`
 * from validated names. Every component below the data dir is lstat-ed (a symlinked table or segment
 * directory is not found, even if it points inside the data dir), and the realpath of the segment
 * directory must be exactly that path, which also catches a symlink swapped in after the lstat.
 * The data dir itself may be a symlink: it comes from the operator's configuration, not a request.
 */
export class SegmentStore {
  constructor(readonly dataDir: string) {}

  /**
   * `table` is raw (`myTable`) or typed (`myTable_REALTIME`), both already URL-decoded once.
   * Throws InvalidNameError (malformed) or SegmentNotFoundError (absent, unsealed, temporary, symlinked).
   */
  async resolve(table: string, segment: string): Promise<ResolvedSegment> {
    const parsed = parseTableName(table);
    validateSegmentName(segment);
    const candidates = parsed.nameWithType !== undefined
      ? [parsed.nameWithType]
      : RAW_NAME_RESOLUTION_ORDER.map((type) => tableNameWithType(parsed.raw, type));
    const realDataDir = await this.realDataDir();
    const reasons: string[] = [];
    for (const candidate of candidates) {
      const lookup = await lookupSegment(realDataDir, candidate, segment);
      if (lookup.found) return lookup.segment;
      reasons.push(`${candidate}: ${lookup.reason}`);
    }
    throw new SegmentNotFoundError(table, segment, reasons.join('; '));
  }

  /** Names of the sealed, servable segments of a table, sorted; [] when the table dir is absent. */
  async listSegments(table: string): Promise<string[]> {
    const nameWithType = requireTypedTable(table);
    const realDataDir = await this.realDataDir();
    const tableDir = path.join(realDataDir, nameWithType);
    const tableCheck = await checkRealDirectory(tableDir, 'table directory');
    if (tableCheck !== undefined) return [];
    const names: string[] = [];
    const dirents = await readdir(tableDir, { withFileTypes: true }).catch((err: unknown) => {
      throw new SegmentReadError(tableDir, { cause: err });
    });
    for (const dirent of dirents) {
      // Dirent types come from the directory listing and do not follow symlinks.
      if (!dirent.isDirectory() || !isServableSegmentName(dirent.name)) continue;
      // One corrupt seal must not hide every other segment of the table from a listing.
      const lookup = await lookupSegment(realDataDir, nameWithType, dirent.name).catch((err: unknown) => {
        if (err instanceof CorruptSegmentError) return undefined;
        throw err;
      });
      if (lookup?.found === true) names.push(lookup.segment.segmentName);
    }
    return names.sort();
  }

  private async realDataDir(): Promise<string> {
    try {
      return await realpath(this.dataDir);
    } catch (err) {
      // A configuration or mount problem, not a property of the requested segment.
      throw new SegmentReadError(this.dataDir, { cause: err });
    }
  }
}

function requireTypedTable(name: string): string {
  const parsed = parseTableName(name);
  if (parsed.nameWithType === undefined) {
    throw new InvalidNameError('table', name, 'a table name with its type (_REALTIME or _OFFLINE) is needed here');
  }
  return parsed.nameWithType;
}

function isServableSegmentName(name: string): boolean {
  try {
    validateSegmentName(name);
  } catch {
    return false;
  }
  return !isTransientDirName(name);
}

async function lookupSegment(realDataDir: string, table: string, segment: string): Promise<Lookup> {
  if (isTransientDirName(segment)) return { found: false, reason: 'temporary or backup directory' };
  const tableDir = path.join(realDataDir, table);
  const tableProblem = await checkRealDirectory(tableDir, 'table directory');
  if (tableProblem !== undefined) return { found: false, reason: tableProblem };
  const dir = path.join(tableDir, segment);
  const dirStats = await lstatIfExists(dir);
  const segmentProblem = describeNonDirectory(dirStats, 'segment directory');
  if (segmentProblem !== undefined || dirStats === undefined) return { found: false, reason: segmentProblem ?? 'absent' };
  const sealLookup = await readSeal(dir);
  if (!sealLookup.sealed) return { found: false, reason: sealLookup.reason };
  // lstat proved no component is a symlink at that moment; realpath proves it again now, after the
  // seal was read, so a swap in between is caught too.
  const real = await realpath(dir).catch(() => undefined);
  if (real !== dir) return { found: false, reason: 'path is not canonical (symlink) or vanished' };
  const { seal } = sealLookup;
  return {
    found: true,
    segment: {
      tableNameWithType: table,
      segmentName: segment,
      dir,
      creationMeta: seal.creationMeta,
      creationMetaPath: seal.creationMetaPath,
      dirIdentity: { dev: dirStats.dev, ino: dirStats.ino },
      seal,
    },
  };
}

/** Undefined when `p` is a real directory (not a symlink), else why not. */
async function checkRealDirectory(p: string, what: string): Promise<string | undefined> {
  return describeNonDirectory(await lstatIfExists(p), what);
}

function describeNonDirectory(stats: BigIntStats | undefined, what: string): string | undefined {
  if (stats === undefined) return `${what} absent`;
  if (stats.isSymbolicLink()) return `${what} is a symlink`;
  if (!stats.isDirectory()) return `${what} is not a directory`;
  return undefined;
}
