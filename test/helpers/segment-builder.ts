import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * Builds Pinot-like segment directories for tests and benchmarks, the way BaseSegmentCreator.seal does:
 * write the v1 files, compute the data CRC (`.fwd`/`.dict` only), convert to v3 if asked
 * (SegmentV1V2ToV3FormatConverter: index files concatenated into `v3/columns.psf`, offsets in
 * `v3/index_map`, metadata moved to `v3/`), then compute the CRC of the final tree and write
 * `creation.meta` (big-endian int64 crc, creationTime, optional dataCrc).
 *
 * The CRC here is a deliberately naive reference implementation (modulo after every byte, files read
 * back from disk, sorted with the default sort), written independently of src/segments so that tests
 * comparing the two can fail.
 */

export interface SegmentBuildSpec {
  name: string;
  /** Default 'v1'. */
  layout?: 'v1' | 'v3';
  /** Size of an extra raw forward index (`payload.sv.raw.fwd`, inside columns.psf for v3). Default 0. */
  payloadBytes?: number;
  /** 'random' (incompressible), 'text' (compressible) or 'mixed' (alternating 1 MiB of each). Default 'random'. */
  payloadKind?: 'random' | 'text' | 'mixed';
  /** Default 1_700_000_000_000. */
  creationTime?: number;
  /** Write the 24-byte creation.meta with a data CRC (Pinot 1.5.0+). Default true. */
  withDataCrc?: boolean;
  /** Extra files (relative POSIX paths from the segment root, may contain directories), written before sealing. */
  extraFiles?: Record<string, string | Uint8Array>;
  /** False leaves the directory without creation.meta, like a segment still being built. Default true. */
  sealed?: boolean;
}

export interface BuiltSegment {
  name: string;
  dir: string;
  layout: 'v1' | 'v3';
  crc: number;
  dataCrc: number | undefined;
  creationTime: number;
  /** Relative path of creation.meta (`creation.meta` or `v3/creation.meta`). */
  creationMetaRelPath: string;
  /** Every regular file, relative POSIX paths, sorted. */
  files: string[];
}

const CHUNK = 1024 * 1024;

/** Creates `<parentDir>/<spec.name>/` (parents too) and returns what was written. */
export async function buildSegment(parentDir: string, spec: SegmentBuildSpec): Promise<BuiltSegment> {
  const layout = spec.layout ?? 'v1';
  const creationTime = spec.creationTime ?? 1_700_000_000_000;
  const dir = path.join(parentDir, spec.name);
  await mkdir(dir, { recursive: true });

  const files = new Set<string>();
  for (const [relPath, content] of Object.entries(v1ColumnFiles(spec.name))) {
    await writeFile(path.join(dir, relPath), content);
    files.add(relPath);
  }
  if ((spec.payloadBytes ?? 0) > 0) {
    await writePayload(path.join(dir, 'payload.sv.raw.fwd'), spec.payloadBytes ?? 0, spec.payloadKind ?? 'random');
    files.add('payload.sv.raw.fwd');
  }
  const dataCrc = await referenceCrc(
    dir,
    [...files].filter((f) => f.endsWith('.fwd') || f.endsWith('.dict')),
  );

  let finalFiles = [...files];
  if (layout === 'v3') finalFiles = await convertToV3(dir, finalFiles);
  for (const [relPath, content] of Object.entries(spec.extraFiles ?? {})) {
    await mkdir(path.dirname(path.join(dir, relPath)), { recursive: true });
    await writeFile(path.join(dir, relPath), content);
    finalFiles.push(relPath);
  }
  const crcFiles = finalFiles.filter((f) => path.posix.basename(f) !== 'creation.meta' && !f.endsWith('.crc'));
  const crc = await referenceCrc(dir, crcFiles);

  const creationMetaRelPath = layout === 'v3' ? 'v3/creation.meta' : 'creation.meta';
  const withDataCrc = spec.withDataCrc ?? true;
  if (spec.sealed ?? true) {
    const meta = Buffer.alloc(withDataCrc ? 24 : 16);
    meta.writeBigInt64BE(BigInt(crc), 0);
    meta.writeBigInt64BE(BigInt(creationTime), 8);
    if (withDataCrc) meta.writeBigInt64BE(BigInt(dataCrc), 16);
    await writeFile(path.join(dir, creationMetaRelPath), meta);
    finalFiles.push(creationMetaRelPath);
  }
  return {
    name: spec.name,
    dir,
    layout,
    crc,
    dataCrc: withDataCrc ? dataCrc : undefined,
    creationTime,
    creationMetaRelPath,
    files: [...new Set(finalFiles)].sort(),
  };
}

/** Small, deterministic v1 index files of two columns, named like Pinot's (V1Constants.Indexes). */
function v1ColumnFiles(segmentName: string): Record<string, string | Uint8Array> {
  const categories = ['alpha', 'beta', 'gamma', 'delta'];
  const docs = 600;
  const fwd = Buffer.alloc(docs * 4);
  for (let i = 0; i < docs; i++) fwd.writeInt32BE((i * 7) % categories.length, i * 4);
  const ts = Buffer.alloc(docs * 8);
  for (let i = 0; i < docs; i++) ts.writeBigInt64BE(1_700_000_000_000n + BigInt(i) * 1000n, i * 8);
  return {
    'metadata.properties': [
      `segment.name = ${segmentName}`,
      'segment.table.name = testTable',
      'segment.index.version = v1',
      `segment.total.docs = ${docs}`,
      'column.category.cardinality = 4',
      '',
    ].join('\n'),
    'category.dict': categories.join('\n'),
    'category.sv.unsorted.fwd': fwd,
    'category.bitmap.inv': Buffer.from(categories.map((c, i) => `${c}:${i}`).join(';')),
    'ts.sv.raw.fwd': ts,
  };
}

async function writePayload(file: string, size: number, kind: 'random' | 'text' | 'mixed'): Promise<void> {
  const handle = await open(file, 'w');
  try {
    let written = 0;
    let line = 0;
    for (let index = 0; written < size; index++) {
      const length = Math.min(CHUNK, size - written);
      let chunk: Buffer;
      if (kind === 'random' || (kind === 'mixed' && index % 2 === 0)) chunk = randomBytes(length);
      else {
        const parts: string[] = [];
        let partsLength = 0;
        while (partsLength < length) {
          const text = `row ${line++} the quick brown fox jumps over the lazy dog ${line % 97}\n`;
          parts.push(text);
          partsLength += text.length;
        }
        chunk = Buffer.from(parts.join('')).subarray(0, length);
      }
      await handle.write(chunk);
      written += length;
    }
  } finally {
    await handle.close();
  }
}

/**
 * SegmentV1V2ToV3FormatConverter in miniature: index files into v3/columns.psf with an index_map,
 * metadata.properties into v3/ (creation.meta would be copied unchanged; it is written afterwards here).
 */
async function convertToV3(dir: string, v1Files: string[]): Promise<string[]> {
  const v3 = path.join(dir, 'v3');
  await mkdir(v3);
  const indexFiles = v1Files.filter((f) => f !== 'metadata.properties').sort();
  const psf = await open(path.join(v3, 'columns.psf'), 'w');
  const indexMap: string[] = [];
  let offset = 0;
  try {
    for (const file of indexFiles) {
      const source = await open(path.join(dir, file), 'r');
      const size = (await source.stat()).size;
      try {
        const buffer = Buffer.allocUnsafe(CHUNK);
        for (;;) {
          const { bytesRead } = await source.read(buffer, 0, CHUNK, null);
          if (bytesRead === 0) break;
          await psf.write(buffer.subarray(0, bytesRead));
        }
      } finally {
        await source.close();
      }
      const [column, ...rest] = file.split('.');
      indexMap.push(
        `${column}.${rest.join('_')}.startOffset = ${offset}`,
        `${column}.${rest.join('_')}.size = ${size}`,
      );
      offset += size;
      await rm(path.join(dir, file));
    }
  } finally {
    await psf.close();
  }
  await writeFile(path.join(v3, 'index_map'), `${indexMap.join('\n')}\n`);
  const metadata = await readFile(path.join(dir, 'metadata.properties'), 'utf8');
  await writeFile(
    path.join(v3, 'metadata.properties'),
    metadata.replace('segment.index.version = v1', 'segment.index.version = v3'),
  );
  await rm(path.join(dir, 'metadata.properties'));
  return ['v3/columns.psf', 'v3/index_map', 'v3/metadata.properties'];
}

/** Naive Adler-32 of the files' concatenated bytes, in default-sort (UTF-16 code unit) order. */
async function referenceCrc(dir: string, relPaths: string[]): Promise<number> {
  let a = 1;
  let b = 0;
  const buffer = Buffer.allocUnsafe(CHUNK);
  for (const relPath of [...relPaths].sort()) {
    const handle = await open(path.join(dir, ...relPath.split('/')), 'r');
    try {
      for (;;) {
        const { bytesRead } = await handle.read(buffer, 0, CHUNK, null);
        if (bytesRead === 0) break;
        for (let i = 0; i < bytesRead; i++) {
          a = (a + buffer[i]!) % 65521;
          b = (b + a) % 65521;
        }
      }
    } finally {
      await handle.close();
    }
  }
  return b * 65536 + a;
}
