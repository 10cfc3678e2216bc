import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inspectCrc } from '../../src/segments/crc-inspect.js';
import { CorruptSegmentError, NotASegmentError } from '../../src/segments/errors.js';
import { fixturesSkipNote, hasPinotFixtures, pinotFixture } from '../helpers/fixtures.js';
import { extractTarGz } from '../helpers/raw-tar.js';
import { buildSegment } from '../helpers/segment-builder.js';

/**
 * Expected values from shared/fixtures/pinot/README.md (CrcUtils.computeCrc; docs/pinot-interop.md,
 * "creation.meta and the CRC").
 */
const FIXTURES = [
  {
    file: 'legacyRawInverted_OFFLINE_0.tar.gz',
    segmentName: 'legacyRawInverted_OFFLINE_0',
    creationMetaRelPath: 'creation.meta',
    creationMeta: { crc: 1299627447, creationTime: 1777871824473, dataCrc: 1677886853 },
    recomputedCrc: 1299627447,
    recomputedDataCrc: 1677886853,
    match: true,
  },
  {
    // Converted to v3 after creation: creation.meta kept the v1 CRC, so recomputation legitimately disagrees.
    file: 'legacyRawInverted_v3_OFFLINE_0.tar.gz',
    segmentName: 'legacyRawInverted_OFFLINE_0',
    creationMetaRelPath: 'v3/creation.meta',
    creationMeta: { crc: 1299627447, creationTime: 1777871824473, dataCrc: 1677886853 },
    recomputedCrc: 2152008343,
    recomputedDataCrc: undefined,
    match: false,
  },
  {
    file: 'paddingNull.tar.gz',
    segmentName: 'paddingNull',
    creationMetaRelPath: 'creation.meta',
    creationMeta: { crc: 2641412145, creationTime: 1468780127653, dataCrc: undefined },
    recomputedCrc: 2641412145,
    recomputedDataCrc: 3682145905,
    match: true,
  },
  {
    file: 'paddingOld.tar.gz',
    segmentName: 'paddingOld',
    creationMetaRelPath: 'creation.meta',
    creationMeta: { crc: 1317909654, creationTime: 1468779529252, dataCrc: undefined },
    recomputedCrc: 1317909654,
    recomputedDataCrc: 248911645,
    match: true,
  },
  {
    file: 'paddingPercent.tar.gz',
    segmentName: 'paddingPercent',
    creationMetaRelPath: 'creation.meta',
    creationMeta: { crc: 3757555477, creationTime: 1468780512677, dataCrc: undefined },
    recomputedCrc: 3757555477,
    recomputedDataCrc: 248911645,
    match: true,
  },
];

let scratch: string;
let savedTmpdir: string | undefined;
beforeAll(async () => {
  scratch = await mkdtemp(path.join(os.tmpdir(), 'segments-inspect-'));
  // A private temp dir for this file's process: other test files run inspectCrc at the same time, and
  // their extraction dirs in the shared temp dir would make the leak checks below flaky.
  const privateTmp = path.join(scratch, 'tmp');
  await mkdir(privateTmp);
  savedTmpdir = process.env.TMPDIR;
  process.env.TMPDIR = privateTmp;
});
afterAll(async () => {
  if (savedTmpdir === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = savedTmpdir;
  await rm(scratch, { recursive: true, force: true });
});

async function crcTempDirs(): Promise<string[]> {
  return (await readdir(os.tmpdir())).filter((name) => name.startsWith('pinot-sidecar-crc-'));
}

describe.skipIf(!hasPinotFixtures)(`inspectCrc on Pinot's fixture tarballs${fixturesSkipNote}`, () => {
  it.each(FIXTURES)('$file', async (fixture) => {
    const { file, ...expected } = fixture;
    const result = await inspectCrc(pinotFixture(file));
    expect(result).toMatchObject({ ...expected, source: 'tarball' });
    expect(result.dataCrcMatch).toBe(
      expected.recomputedDataCrc === undefined || expected.creationMeta.dataCrc === undefined
        ? undefined
        : expected.recomputedDataCrc === expected.creationMeta.dataCrc,
    );
  });

  it.each(FIXTURES)('$file extracted by GNU tar gives the same answer as a directory', async (fixture) => {
    const dest = path.join(scratch, fixture.file);
    await mkdir(dest);
    await extractTarGz(pinotFixture(fixture.file), dest);
    const result = await inspectCrc(path.join(dest, fixture.segmentName));
    expect(result).toMatchObject({ source: 'directory', recomputedCrc: fixture.recomputedCrc, match: fixture.match });
  });

  it('removes its temporary extraction directories', async () => {
    const before = await crcTempDirs();
    await Promise.all(FIXTURES.map((f) => inspectCrc(pinotFixture(f.file))));
    expect(await crcTempDirs()).toEqual(before);
  });
});

describe('inspectCrc on generated segments and bad input', () => {
  it.each(['v1', 'v3'] as const)('%s directory built with a correct creation.meta matches', async (layout) => {
    const built = await buildSegment(path.join(scratch, 'built'), { name: `inspect_${layout}`, layout });
    const result = await inspectCrc(built.dir);
    expect(result).toMatchObject({
      segmentName: `inspect_${layout}`,
      source: 'directory',
      creationMetaRelPath: built.creationMetaRelPath,
      creationMeta: { crc: built.crc, creationTime: built.creationTime, dataCrc: built.dataCrc },
      recomputedCrc: built.crc,
      match: true,
    });
  });

  it('reports a mismatch after a file changed, without throwing', async () => {
    const built = await buildSegment(path.join(scratch, 'built'), { name: 'inspect_changed' });
    await writeFile(path.join(built.dir, 'metadata.properties'), 'changed by the server after load\n');
    const result = await inspectCrc(built.dir);
    expect(result.match).toBe(false);
    expect(result.creationMeta.crc).toBe(built.crc);
    expect(result.recomputedCrc).not.toBe(built.crc);
  });

  it('a directory without creation.meta is NotASegmentError (not "corrupt segment data")', async () => {
    const built = await buildSegment(path.join(scratch, 'built'), { name: 'inspect_unsealed', sealed: false });
    await expect(inspectCrc(built.dir)).rejects.toBeInstanceOf(NotASegmentError);
    await expect(inspectCrc(built.dir)).rejects.toThrow(/is not a segment: no creation\.meta/);
  });

  it.each([
    ['a text file', Buffer.from('definitely not a tarball\n'.repeat(20))],
    ['a zstd frame', Buffer.concat([Buffer.from('28b52ffd', 'hex'), Buffer.alloc(600)])],
    ['a truncated gzip', Buffer.from('1f8b0800000000000000ff0102', 'hex')],
  ])('%s is a CorruptSegmentError, with no temp dir left behind', async (label, bytes) => {
    const file = path.join(scratch, `${label.replaceAll(' ', '_')}.tar.gz`);
    await writeFile(file, bytes);
    const before = await crcTempDirs();
    await expect(inspectCrc(file)).rejects.toBeInstanceOf(CorruptSegmentError);
    expect(await crcTempDirs()).toEqual(before);
  });
});
