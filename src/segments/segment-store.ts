import type { BigIntStats } from 'node:fs';
import { readdir, realpath } from 'node:fs/promises';
import path from 'node:path';
import { tableNameWithType, type CreationMeta, type TableType } from '../pinot-format/index.js';
import { CorruptSegmentError, InvalidNameError, SegmentNotFoundError, SegmentReadError } from './errors.js';
import { lstatIfExists } from './fs-calls.js';
import { isTransientDirName } from './layout.js';
import { parseTableName, validateSegmentName } from './names.js';
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
  /** lstat of the directory when it was resolved (its identity is dirIdentity). */
  dirStats: BigIntStats;
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

/** Options of a SegmentStore; each absent one has the default named on it. */
export interface SegmentStoreOptions {
  /**
   * The data dirs of Pinot's storage tiers, searched after `dataDir`, in this order (default none). A server
   * whose segment directory loader is `tierBased` (TierBasedSegmentDirectoryLoader) moves a segment its table
   * config assigns to a tier to `<tierDataDir>/<tableNameWithType>/<segment>/`, where the tier's dataDir is the
   * table's `tierConfigs[].tierBackendProperties.dataDir` or else the server's
   * `pinot.server.instance.tierConfigs.<tier>.dataDir` (TierConfigUtils.getDataDirForTier).
   */
  tierDataDirs?: readonly string[];
}

/**
 * The segments of one Pinot server's data dir (`<dataDir>/<tableNameWithType>/<segment>/`) and of its storage
 * tiers' data dirs (`<tierDataDir>/<tableNameWithType>/<segment>/`), read-only.
 *
 * Names from requests are validated first, and the only paths ever built are `root/table/segment` from
 * validated names, for each configured root. Every component below a root is lstat-ed (a symlinked table or
 * segment directory is not found, even if it points inside a root), and the realpath of the segment
 * directory must be exactly that path, which also catches a symlink swapped in after the lstat.
 * The roots themselves may be symlinks: they come from the operator's configuration, not a request.
 *
 * The first root holding the segment sealed wins: the data dir, then the tiers in the order given. Pinot moves
 * a segment between roots with FileUtils.moveDirectory: a rename on one file system, else a copy, then a
 * delete of the source; during such a copy towards a later root the earlier root still holds the complete
 * source, so tiers are best listed in the order segments age through them. A tier data dir that does not
 * exist yet is normal (Pinot creates it when it first moves a segment there).
 */
export class SegmentStore {
  /** Where segments are looked for, in order: the server's dataDir, then each tier's. */
  readonly roots: readonly string[];

  constructor(
    readonly dataDir: string,
    options: SegmentStoreOptions = {},
  ) {
    this.roots = [dataDir, ...(options.tierDataDirs ?? [])];
  }

  /**
   * `table` is raw (`myTable`) or typed (`myTable_REALTIME`), both already URL-decoded once.
   * Throws InvalidNameError (malformed) or SegmentNotFoundError (absent, unsealed, temporary, symlinked).
   */
  async resolve(table: string, segment: string): Promise<ResolvedSegment> {
    const parsed = parseTableName(table);
    validateSegmentName(segment);
    const candidates =
      parsed.nameWithType !== undefined
        ? [parsed.nameWithType]
        : RAW_NAME_RESOLUTION_ORDER.map((type) => tableNameWithType(parsed.raw, type));
    const realRoot = this.realRootsOnDemand();
    const reasons: string[] = [];
    for (const candidate of candidates) {
      for (let index = 0; index < this.roots.length; index += 1) {
        const root = await realRoot(index);
        const lookup =
          root.real === undefined
            ? { found: false as const, reason: 'absent' }
            : await lookupSegment(root.real, candidate, segment);
        if (lookup.found) return lookup.segment;
        reasons.push(`${candidate}${root.label}: ${lookup.reason}`);
      }
    }
    throw new SegmentNotFoundError(table, segment, reasons.join('; '));
  }

  /** Names of the sealed, servable segments of a table in any root, sorted; [] when no root has its table dir. */
  async listSegments(table: string): Promise<string[]> {
    const nameWithType = requireTypedTable(table);
    const names = new Set<string>();
    const realRoot = this.realRootsOnDemand();
    for (let index = 0; index < this.roots.length; index += 1) {
      const root = await realRoot(index);
      if (root.real === undefined) continue;
      for (const name of await listSealedSegments(root.real, nameWithType)) names.add(name);
    }
    return [...names].sort();
  }

  /**
   * The canonical path of each root, resolved at most once per call and only when needed (a segment found in
   * the data dir never touches a tier's mount; a volume may be mounted after the sidecar started). The data
   * dir must exist: without it the server has nothing (SegmentReadError: a configuration or mount problem,
   * not a property of the requested segment). A tier data dir that does not exist yet has `real` undefined.
   */
  private realRootsOnDemand(): (index: number) => Promise<RealRoot> {
    const resolved = new Map<number, Promise<RealRoot>>();
    return (index) => {
      let root = resolved.get(index);
      if (root === undefined) {
        root = realRoot(this.roots[index]!, index === 0 ? 'data' : 'tier');
        resolved.set(index, root);
      }
      return root;
    };
  }
}

async function realRoot(root: string, kind: 'data' | 'tier'): Promise<RealRoot> {
  const label = kind === 'data' ? '' : ` in tier data dir ${root}`;
  try {
    return { real: await realpath(root), label };
  } catch (err) {
    if (kind === 'tier' && (err as NodeJS.ErrnoException).code === 'ENOENT') return { real: undefined, label };
    throw new SegmentReadError(root, { cause: err });
  }
}

/** A root of the store: its canonical path (undefined: a tier data dir not created yet) and how reasons name it. */
interface RealRoot {
  real: string | undefined;
  label: string;
}

async function listSealedSegments(realRoot: string, nameWithType: string): Promise<string[]> {
  const tableDir = path.join(realRoot, nameWithType);
  if ((await checkRealDirectory(tableDir, 'table directory')) !== undefined) return [];
  const dirents = await readdir(tableDir, { withFileTypes: true }).catch((err: unknown) => {
    throw new SegmentReadError(tableDir, { cause: err });
  });
  const names: string[] = [];
  for (const dirent of dirents) {
    // Dirent types come from the directory listing and do not follow symlinks.
    if (!dirent.isDirectory() || !isServableSegmentName(dirent.name)) continue;
    // One corrupt seal must not hide every other segment of the table from a listing.
    const lookup = await lookupSegment(realRoot, nameWithType, dirent.name).catch((err: unknown) => {
      if (err instanceof CorruptSegmentError) return undefined;
      throw err;
    });
    if (lookup?.found === true) names.push(lookup.segment.segmentName);
  }
  return names;
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

async function lookupSegment(realRoot: string, table: string, segment: string): Promise<Lookup> {
  if (isTransientDirName(segment)) return { found: false, reason: 'temporary or backup directory' };
  const tableDir = path.join(realRoot, table);
  const tableProblem = await checkRealDirectory(tableDir, 'table directory');
  if (tableProblem !== undefined) return { found: false, reason: tableProblem };
  const dir = path.join(tableDir, segment);
  const dirStats = await lstatIfExists(dir);
  const segmentProblem = describeNonDirectory(dirStats, 'segment directory');
  if (segmentProblem !== undefined || dirStats === undefined)
    return { found: false, reason: segmentProblem ?? 'absent' };
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
      dirStats,
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
