import { mkdtemp, open, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { extract } from 'tar';
import type { CreationMeta } from '../pinot-format/index.js';
import { CODEC_SNIFF_BYTES, detectArchiveCodec } from './archive-codec.js';
import { computeSegmentCrc } from './crc.js';
import { CorruptSegmentError, NotASegmentError } from './errors.js';
import { readSeal } from './seal.js';

export interface CrcInspection {
  segmentName: string;
  source: 'directory' | 'tarball';
  /** Where creation.meta was found, relative to the segment directory (`creation.meta` or `v3/creation.meta`). */
  creationMetaRelPath: string;
  creationMeta: Pick<CreationMeta, 'crc' | 'creationTime' | 'dataCrc'>;
  recomputedCrc: number;
  /** Undefined when the layout has no `.fwd`/`.dict` files to recompute it from (v3). */
  recomputedDataCrc: number | undefined;
  match: boolean;
  /** Undefined when either side of the data CRC is missing. */
  dataCrcMatch: boolean | undefined;
  /** Files covered by the CRC, in CRC order. */
  files: string[];
}

/**
 * `pinot-sidecar crc <segmentDir|tarball>`: recompute Pinot's CRC and compare it with `creation.meta`.
 * A mismatch is reported, not thrown: format conversion and server-side index changes legitimately
 * alter the files while `creation.meta` keeps the original CRC (docs/pinot-interop.md,
 * "creation.meta and the CRC").
 */
export async function inspectCrc(target: string): Promise<CrcInspection> {
  const stats = await stat(target);
  if (stats.isDirectory()) return inspectDirectory(target, path.basename(path.resolve(target)), 'directory');
  return inspectTarball(target);
}

async function inspectDirectory(
  dir: string,
  segmentName: string,
  source: CrcInspection['source'],
): Promise<CrcInspection> {
  const lookup = await readSeal(dir);
  if (!lookup.sealed) throw lookup.absent ? new NotASegmentError(dir) : new CorruptSegmentError(dir, lookup.reason);
  const { creationMeta, creationMetaPath } = lookup.seal;
  const recomputed = await computeSegmentCrc(dir);
  const dataCrcMatch =
    recomputed.dataCrc === undefined || creationMeta.dataCrc === undefined
      ? undefined
      : recomputed.dataCrc === creationMeta.dataCrc;
  return {
    segmentName,
    source,
    creationMetaRelPath: path.relative(dir, creationMetaPath).split(path.sep).join('/'),
    creationMeta: { crc: creationMeta.crc, creationTime: creationMeta.creationTime, dataCrc: creationMeta.dataCrc },
    recomputedCrc: recomputed.crc,
    recomputedDataCrc: recomputed.dataCrc,
    match: recomputed.crc === creationMeta.crc,
    dataCrcMatch,
    files: recomputed.files,
  };
}

/**
 * Extracts into a private temp dir (removed afterwards, whatever happens) and inspects the segment
 * directory Pinot would take: the first entry's top-level directory (BaseTableDataManager.untarSegment
 * uses `untar(...).get(0)`). node-tar refuses absolute paths and `..` while extracting.
 */
async function inspectTarball(tarball: string): Promise<CrcInspection> {
  const codec = detectArchiveCodec(await readHead(tarball, CODEC_SNIFF_BYTES));
  if (codec !== 'gzip' && codec !== 'tar') {
    throw new CorruptSegmentError(
      tarball,
      codec === 'unknown' ? 'not a tar or tar.gz archive' : `${codec} archives are not supported`,
    );
  }
  const workDir = await mkdtemp(path.join(os.tmpdir(), 'pinot-sidecar-crc-'));
  try {
    let firstEntry: string | undefined;
    try {
      await extract({
        file: tarball,
        cwd: workDir,
        strict: true,
        preserveOwner: false,
        onReadEntry: (entry) => {
          firstEntry ??= entry.path;
        },
      });
    } catch (err) {
      throw new CorruptSegmentError(tarball, 'cannot extract the archive', { cause: err });
    }
    const segmentName = firstEntry?.split('/').find((part) => part !== '' && part !== '.');
    if (segmentName === undefined) throw new CorruptSegmentError(tarball, 'the archive has no entries');
    return await inspectDirectory(path.join(workDir, segmentName), segmentName, 'tarball');
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

async function readHead(file: string, length: number): Promise<Buffer> {
  const handle = await open(file, 'r');
  try {
    const head = Buffer.alloc(length);
    const { bytesRead } = await handle.read(head, 0, length, 0);
    return head.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}
