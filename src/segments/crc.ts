import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { CREATION_META } from '../pinot-format/index.js';
import { Adler32 } from './adler32.js';
import { readingSegment } from './fs-calls.js';
import { compareCodeUnits, walkSegmentTree } from './segment-tree.js';

const DEFAULT_READ_SIZE = 1024 * 1024;

/** CrcUtils.collectFiles: the test is on the file name, at any depth. */
export function isCrcCovered(relPath: string): boolean {
  const name = path.posix.basename(relPath);
  return name !== CREATION_META && !name.endsWith('.crc');
}

/** CrcUtils.isDataFile (DATA_FILE_EXTENSIONS = .fwd, .dict). */
export function isDataCrcCovered(relPath: string): boolean {
  const name = path.posix.basename(relPath);
  return isCrcCovered(relPath) && (name.endsWith('.fwd') || name.endsWith('.dict'));
}

/** Relative paths of regular files → the ones the CRC covers, in the order it reads them. */
export function crcFileOrder(regularFiles: readonly string[]): string[] {
  return regularFiles.filter(isCrcCovered).sort(compareCodeUnits);
}

export interface SegmentCrc {
  crc: number;
  /**
   * Undefined when the tree holds no `.fwd`/`.dict` file: Pinot computes the data CRC before v3
   * conversion, so it cannot be recomputed from a v3 directory (Pinot's own value over zero files
   * would be the meaningless 1).
   */
  dataCrc: number | undefined;
  /** The files covered, in CRC order. */
  files: string[];
  dataFiles: string[];
}

/**
 * Pinot's segment CRC, CrcUtils.computeCrc / computeDataCrc (docs/pinot-interop.md,
 * "creation.meta and the CRC"): Adler-32 over the concatenated bytes of every regular file under the segment root,
 * except files named `creation.meta` or ending in `.crc` (HDFS copies leave those), in String.compareTo order of their
 * paths. All paths share the root, so that is code-unit order of the relative path including `v3/`. The data CRC
 * (1.5.0+) takes only files ending in `.fwd` or `.dict`.
 *
 * Recomputes both CRCs in one pass: the data files are a subset read in the same order, so each file
 * is read once and fed to both checksums. Files are streamed in `readSize` chunks; segments can be
 * many GB. Symlinks are not followed (Pinot's File.isFile() would, but Pinot never writes them).
 */
export async function computeSegmentCrc(segmentDir: string, options: { readSize?: number } = {}): Promise<SegmentCrc> {
  const tree = await readingSegment(segmentDir, segmentDir, () => walkSegmentTree(segmentDir));
  const files = crcFileOrder(tree.filter((entry) => entry.kind === 'file').map((entry) => entry.relPath));
  const dataFiles = files.filter(isDataCrcCovered);
  const all = new Adler32();
  const data = new Adler32();
  const buffer = Buffer.allocUnsafe(options.readSize ?? DEFAULT_READ_SIZE);
  for (const relPath of files) {
    const sinks = isDataCrcCovered(relPath) ? [all, data] : [all];
    const absPath = path.join(segmentDir, ...relPath.split('/'));
    await readingSegment(segmentDir, absPath, () => feedFile(absPath, buffer, sinks));
  }
  return { crc: all.value, dataCrc: dataFiles.length > 0 ? data.value : undefined, files, dataFiles };
}

async function feedFile(absPath: string, buffer: Buffer, sinks: readonly Adler32[]): Promise<void> {
  const handle = await open(absPath, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) return;
      const chunk = buffer.subarray(0, bytesRead);
      for (const sink of sinks) sink.update(chunk);
    }
  } finally {
    await handle.close();
  }
}
