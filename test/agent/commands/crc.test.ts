import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../helpers/cli.js';
import { fixturesSkipNote, hasPinotFixtures, pinotFixture } from '../../helpers/fixtures.js';
import { buildSegment } from '../../helpers/segment-builder.js';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'crc-cli-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('pinot-sidecar crc', () => {
  it('reports a match for a generated segment directory (exit 0)', async () => {
    const seg = await buildSegment(root, { name: 'gen_seg', layout: 'v3' });
    const r = await runCli(['crc', seg.dir]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`creation.meta CRC:  ${seg.crc}`);
    expect(r.stdout).toContain(`recomputed CRC:     ${seg.crc}`);
    expect(r.stdout).toContain('MATCH');
  });

  it('reports a mismatch when a file changed after sealing (exit 1)', async () => {
    const seg = await buildSegment(root, { name: 'changed_seg' });
    await writeFile(path.join(seg.dir, 'added.bitmap.inv'), 'index added after creation');
    const r = await runCli(['crc', seg.dir]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('MISMATCH');
  });

  it.each([
    [[], 2],
    [['a', 'b'], 2],
    [['/no/such/path'], 2],
  ])('crc %j exits %i with a message', async (args, code) => {
    const r = await runCli(['crc', ...args]);
    expect(r.code).toBe(code);
    expect(r.stderr.length).toBeGreaterThan(0);
  });

  it('a directory without creation.meta is an error, not a crash', async () => {
    const seg = await buildSegment(root, { name: 'unsealed', sealed: false });
    const r = await runCli(['crc', seg.dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      `pinot-sidecar crc: ${seg.dir} is not a segment: no creation.meta in it or in its v3/ (expected a segment directory or a segment tarball)\n`,
    );
  });

  it('wrong arguments get the one usage line, not the whole help', async () => {
    const r = await runCli(['crc', 'a', 'b']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      'Usage: pinot-sidecar crc <segmentDir|tarball> [--json]  (pinot-sidecar crc --help for more)\n',
    );
  });
});

describe('pinot-sidecar --version', () => {
  it("prints the package's version", async () => {
    const { version } = JSON.parse(
      await (await import('node:fs/promises')).readFile(new URL('../../../package.json', import.meta.url), 'utf8'),
    ) as { version: string };
    for (const flag of ['--version', '-V', 'version'])
      expect(await runCli([flag])).toEqual({ code: 0, stdout: `pinot-sidecar ${version}\n`, stderr: '' });
  });
});

describe.skipIf(!hasPinotFixtures)(`pinot-sidecar crc on Pinot's tarballs${fixturesSkipNote}`, () => {
  it.each([
    ['legacyRawInverted_OFFLINE_0.tar.gz', 1299627447, 1299627447, 0],
    ['legacyRawInverted_v3_OFFLINE_0.tar.gz', 1299627447, 2152008343, 1],
    ['paddingNull.tar.gz', 2641412145, 2641412145, 0],
    ['paddingOld.tar.gz', 1317909654, 1317909654, 0],
    ['paddingPercent.tar.gz', 3757555477, 3757555477, 0],
  ])('%s: creation.meta %i, recomputed %i, exit %i', async (file, stored, recomputed, code) => {
    const r = await runCli(['crc', pinotFixture(file)]);
    expect(r.code).toBe(code);
    expect(r.stdout).toContain(`creation.meta CRC:  ${stored}`);
    expect(r.stdout).toContain(`recomputed CRC:     ${recomputed}`);
    const json = await runCli(['crc', pinotFixture(file), '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({
      recomputedCrc: recomputed,
      creationMeta: { crc: stored },
      match: code === 0,
    });
  });
});
