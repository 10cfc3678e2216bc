import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeSegmentCrc, crcFileOrder, isCrcCovered, isDataCrcCovered } from '../../src/segments/crc.js';
import { buildSegment } from '../helpers/segment-builder.js';

describe('which files the CRC covers (CrcUtils.collectFiles)', () => {
  it.each([
    ['metadata.properties', true, false],
    ['category.sv.raw.fwd', true, true],
    ['category.dict', true, true],
    ['category.bitmap.inv', true, false],
    ['v3/columns.psf', true, false],
    ['v3/index_map', true, false],
    ['creation.meta', false, false],
    ['v3/creation.meta', false, false],
    ['sub/dir/creation.meta', false, false],
    ['creation.meta.old', true, false],
    ['columns.psf.crc', false, false],
    ['.columns.psf.crc', false, false],
    ['x.fwd.crc', false, false],
    ['fwd', true, false],
    ['a.fwdx', true, false],
  ])('%j: crc %s, data crc %s', (relPath, crc, dataCrc) => {
    expect(isCrcCovered(relPath)).toBe(crc);
    expect(isDataCrcCovered(relPath)).toBe(dataCrc);
  });

  it('orders by UTF-16 code units of the whole relative path, not by walk order or locale', () => {
    const walkOrder = [
      'Zed.txt',
      'a.txt',
      'v3',
      'v3/b',
      'v3/creation.meta',
      'v3-extra',
      'v3.x',
      'x.crc',
      '\u00e9.txt',
      'B.txt',
    ];
    expect(crcFileOrder(walkOrder)).toEqual([
      'B.txt',
      'Zed.txt',
      'a.txt',
      'v3',
      'v3-extra',
      'v3.x',
      'v3/b',
      '\u00e9.txt',
    ]);
  });
});

describe('computeSegmentCrc on generated segments', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'segments-crc-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it.each(['v1', 'v3'] as const)(
    '%s layout: CRC equals the builder reference, data CRC only for v1',
    async (layout) => {
      const built = await buildSegment(path.join(root, layout), { name: `seg_${layout}`, layout });
      const crc = await computeSegmentCrc(built.dir);
      expect(crc.crc).toBe(built.crc);
      if (layout === 'v1') {
        expect(crc.dataCrc).toBe(built.dataCrc);
        expect(crc.dataFiles).toEqual(['category.dict', 'category.sv.unsorted.fwd', 'ts.sv.raw.fwd']);
      } else {
        expect(crc.dataCrc).toBeUndefined();
        expect(crc.files).toEqual(['v3/columns.psf', 'v3/index_map', 'v3/metadata.properties']);
      }
    },
  );

  it('sorts v3-prefixed siblings and nested dirs like Pinot and skips .crc and nested creation.meta', async () => {
    const built = await buildSegment(root, {
      name: 'seg_order',
      layout: 'v3',
      extraFiles: {
        'v3-extra.bin': 'sorted before v3/ because - < /',
        'Zed.txt': 'upper case sorts first',
        'v3/columns.psf.crc': 'HDFS checksum, excluded',
        'v3/col.lucene.v912.index/_0.cfs': 'nested index dir',
        'v3/col.lucene.v912.index/creation.meta': 'excluded by name at any depth',
      },
    });
    const crc = await computeSegmentCrc(built.dir);
    expect(crc.files).toEqual([
      'Zed.txt',
      'v3-extra.bin',
      'v3/col.lucene.v912.index/_0.cfs',
      'v3/columns.psf',
      'v3/index_map',
      'v3/metadata.properties',
    ]);
    expect(crc.crc).toBe(built.crc);
  });

  it('streams a multi-MiB file in small chunks with the same result', async () => {
    const built = await buildSegment(root, { name: 'seg_big', payloadBytes: 3 * 1024 * 1024 + 17 });
    expect((await computeSegmentCrc(built.dir, { readSize: 64 * 1024 })).crc).toBe(built.crc);
    expect((await computeSegmentCrc(built.dir)).dataCrc).toBe(built.dataCrc);
  });

  it('changes when one byte changes', async () => {
    const built = await buildSegment(root, { name: 'seg_flip' });
    await writeFile(path.join(built.dir, 'category.dict'), 'alphA\nbeta\ngamma\ndelta');
    expect((await computeSegmentCrc(built.dir)).crc).not.toBe(built.crc);
  });

  it('does not follow symlinks', async () => {
    const built = await buildSegment(root, { name: 'seg_link' });
    await writeFile(path.join(root, 'outside.bin'), 'not part of the segment');
    await symlink(path.join(root, 'outside.bin'), path.join(built.dir, 'zz.link'));
    const crc = await computeSegmentCrc(built.dir);
    expect(crc.files).not.toContain('zz.link');
    expect(crc.crc).toBe(built.crc);
  });
});
