import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SegmentStore } from '../../../src/segments/index.js';
import { startTestHttpServer, type TestHttpServer } from '../../helpers/http-app.js';
import { extractTarGz } from '../../helpers/raw-tar.js';
import { rawRequest } from '../../helpers/raw-http.js';
import { buildSegment, type BuiltSegment } from '../../helpers/segment-builder.js';
import { digestTree } from '../../helpers/tree.js';

/**
 * Downloads of segments a server keeps on a storage tier (`<tierDataDir>/<tableNameWithType>/<segment>/`,
 * TierBasedSegmentDirectoryLoader), and the traversal corpus aimed at the tier root: a tier adds a root, never a
 * way out of one.
 */
let root: string;
let tier: string;
let server: TestHttpServer;
let onTier: BuiltSegment;
const RT = 'events_REALTIME';
// Names are constants: it.each tables are built before beforeAll runs.
const TIER_SEG = 'events__0__7__20240101T0000Z';

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'sidecar-tier-http-'));
  const dataDir = path.join(root, 'data');
  tier = path.join(root, 'cold');
  await mkdir(path.join(dataDir, RT), { recursive: true });
  onTier = await buildSegment(path.join(tier, RT), {
    name: TIER_SEG,
    layout: 'v3',
    payloadBytes: 100_000,
    payloadKind: 'mixed',
  });
  // What an attacker would like to reach from the tier root.
  await writeFile(path.join(root, 'secret.txt'), 'TOPSECRET');
  const outsideSeg = await buildSegment(path.join(root, 'outside', RT), {
    name: 'events__6__6__20240101T0000Z',
    extraFiles: { 'leak.txt': 'TOPSECRET' },
  });
  await symlink(outsideSeg.dir, path.join(tier, RT, 'events__9__9__20240101T0000Z'));
  await symlink(path.join(root, 'outside', RT), path.join(tier, 'linked_REALTIME'));
  await symlink(root, path.join(tier, 'escape_OFFLINE'));
  const withLink = await buildSegment(path.join(tier, RT), { name: 'events__8__8__20240101T0000Z' });
  await symlink(path.join(root, 'secret.txt'), path.join(withLink.dir, 'leak.txt'));
  server = await startTestHttpServer({ dataDir, store: new SegmentStore(dataDir, { tierDataDirs: [tier] }) });
});

afterAll(async () => {
  await server.close();
  await rm(root, { recursive: true, force: true });
});

describe('a segment that lives only in a tier data dir', () => {
  it.each([`/tables/events/segments/${TIER_SEG}`, `/segments/${RT}/${TIER_SEG}`])(
    'GET %s streams it; it extracts to the tier copy byte for byte',
    async (target) => {
      const res = await fetch(server.url(target));
      expect(res.status).toBe(200);
      expect(res.headers.get('x-segment-crc')).toBe(String(onTier.crc));
      const dir = await mkdtemp(path.join(root, 'x-'));
      await writeFile(path.join(dir, 'download.tar.gz'), Buffer.from(await res.arrayBuffer()));
      await mkdir(path.join(dir, 'out'));
      await extractTarGz(path.join(dir, 'download.tar.gz'), path.join(dir, 'out'));
      expect(await digestTree(path.join(dir, 'out', TIER_SEG))).toEqual(await digestTree(onTier.dir));
    },
  );
});

describe('traversal through a tier root', () => {
  const corpus = [
    `/tables/${RT}/segments/..%2F..%2Fsecret.txt`,
    `/tables/${RT}/segments/%2e%2e%2f%2e%2e%2fsecret.txt`,
    `/tables/..%2Fcold/segments/secret.txt`,
    `/segments/..%2F..%2Fcold%2F${RT}/${TIER_SEG}`,
    `/tables/${RT}/segments/${TIER_SEG}%2F..%2F..%2F..%2Fsecret.txt`,
    `/tables/${RT}/segments/${TIER_SEG}/v3/columns.psf`,
    `/tables/${RT}/segments/events__9__9__20240101T0000Z`,
    `/tables/linked_REALTIME/segments/events__6__6__20240101T0000Z`,
    `/tables/linked/segments/events__6__6__20240101T0000Z`,
    `/tables/${RT}/segments/events__8__8__20240101T0000Z`,
    `/tables/escape_OFFLINE/segments/secret.txt`,
    `/segments/escape_OFFLINE/outside`,
  ];

  it.each(corpus)('%s → 400 or 404, never file content', async (target) => {
    const res = await rawRequest(server.port, target);
    expect([400, 404]).toContain(res.status);
    expect(res.body.toString('latin1')).not.toContain('TOPSECRET');
  });
});
