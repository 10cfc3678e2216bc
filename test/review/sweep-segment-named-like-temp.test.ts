import { mkdtemp, readdir, rm, stat, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileDeepStore } from '../../src/deepstore/file-deep-store.js';
import { creationMeta, segmentArchive } from '../deepstore/support.js';

/**
 * Review of issue 10 item 15: sweepStaleTemps() decides "ours" by the file name alone. A segment whose name
 * ends in `.sidecar-tmp.<uuid v4>` is stored (URLEncoder keeps `.`, `-`, hex) under exactly such a name, so
 * the hourly sweep deletes that segment's deep-store copy (possibly its only one) once it is an hour old.
 * Pinot puts no rule on segment names beyond "/" (custom names for offline/uploaded segments are common).
 */
const TABLE = 'events';
const SEGMENT = 'events_2024-01-01.sidecar-tmp.0b4e6f0e-1c2d-4e5f-8a9b-0c1d2e3f4a5b';
const CRC = '1234567890';

let root: string;
let store: FileDeepStore;

beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'review-sweep-'));
  store = new FileDeepStore(pathToFileURL(root).href);
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('review: sweepStaleTemps and segment names', () => {
  it('never removes a complete segment object, whatever its name', async () => {
    const archive = await segmentArchive(SEGMENT, [{ name: 'creation.meta', data: creationMeta(BigInt(CRC)) }]);
    const uri = store.segmentUri(TABLE, SEGMENT);
    await store.put(uri, Readable.from([archive]), { crc: CRC });
    const [stored] = await readdir(path.join(root, TABLE));
    const file = path.join(root, TABLE, stored!);
    expect((await stat(file)).size).toBe(archive.length);
    // The segment was uploaded two hours ago.
    const then = new Date(Date.now() - 2 * 60 * 60 * 1000);
    await utimes(file, then, then);

    const result = await store.sweepStaleTemps();

    expect(result.removed).toBe(0);
    expect(await store.head(uri)).toEqual({ bytes: archive.length, crc: CRC });
  });
});
