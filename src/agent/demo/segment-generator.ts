import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CREATION_META, encodeCreationMeta, V3_DIR } from '../../pinot-format/index.js';
import { computeSegmentCrc } from '../../segments/index.js';

export interface GeneratedSegment {
  dir: string;
  /** ZK form of the CRC (unsigned decimal string), as the controller would record it. */
  crc: string;
}

/**
 * Writes a small sealed segment in the v3 layout Pinot servers hold (docs/pinot-interop.md,
 * "creation.meta and the CRC"):
 * `v3/columns.psf`, `v3/index_map`, `v3/metadata.properties`, and `v3/creation.meta` with the CRC
 * computed the way CrcUtils does. The column bytes are made up; the shape is Pinot's.
 */
export async function generateSegment(
  tableDir: string,
  segmentName: string,
  options: { rows?: number; creationTime?: number } = {},
): Promise<GeneratedSegment> {
  const rows = options.rows ?? 5_000;
  const dir = path.join(tableDir, segmentName);
  const v3 = path.join(dir, V3_DIR);
  await mkdir(v3, { recursive: true });
  const ts = Buffer.alloc(rows * 8);
  for (let i = 0; i < rows; i++) ts.writeBigInt64BE(1_704_067_200_000n + BigInt(i) * 1000n, i * 8);
  const userIds = randomBytes(rows * 4);
  const psf = Buffer.concat([ts, userIds]);
  await writeFile(path.join(v3, 'columns.psf'), psf);
  await writeFile(
    path.join(v3, 'index_map'),
    [
      'ts.forward_index.startOffset = 0',
      `ts.forward_index.size = ${ts.length}`,
      `userId.forward_index.startOffset = ${ts.length}`,
      `userId.forward_index.size = ${userIds.length}`,
      '',
    ].join('\n'),
  );
  await writeFile(
    path.join(v3, 'metadata.properties'),
    [
      `segment.name = ${segmentName}`,
      'segment.index.version = v3',
      `segment.total.docs = ${rows}`,
      'segment.time.unit = MILLISECONDS',
      '',
    ].join('\n'),
  );
  const { crc } = await computeSegmentCrc(dir);
  await writeFile(
    path.join(v3, CREATION_META),
    encodeCreationMeta({ crc, creationTime: options.creationTime ?? Date.now() }),
  );
  return { dir, crc: String(crc) };
}
