import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SegmentStore } from '../../../src/segments/index.js';
import { startTestHttpServer } from '../../helpers/http-app.js';
import { rawRequest } from '../../helpers/raw-http.js';
import { buildSegment, type BuiltSegment } from '../../helpers/segment-builder.js';

/**
 * Review of issue 10 item 10 ("decide admission before any disk work"): GET now takes its slot before the
 * segment is resolved and its tree walked, but HEAD on the same routes skips admission altogether and always
 * resolves + plans (segment-download.ts: `if (c.req.raw.method === 'HEAD') return ... planSegment(...)`).
 * With every slot and queue place taken, a flood of HEADs still walks the tree once per request, with no
 * bound on how many run at once: the memory growth item 10 removed for GET is still there for HEAD.
 */
class CountingSegmentStore extends SegmentStore {
  resolves = 0;

  override resolve(table: string, segment: string): ReturnType<SegmentStore['resolve']> {
    this.resolves += 1;
    return super.resolve(table, segment);
  }
}

const RT = 'events_REALTIME';
let root: string;
let seg: BuiltSegment;

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'review-head-'));
  seg = await buildSegment(path.join(root, 'data', RT), { name: 'events__0__1__20240101T0000Z', layout: 'v3' });
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('HEAD and download admission (review of issue 10)', () => {
  it('HEADs arriving while every slot and queue place is taken touch no file', async () => {
    const store = new CountingSegmentStore(path.join(root, 'data'));
    const server = await startTestHttpServer({ dataDir: path.join(root, 'data'), store, maxDownloads: 1, queue: 0 });
    try {
      // Every slot taken (as by a long download), no queue place.
      const release = await server.slots.acquire();
      const get = await rawRequest(server.port, `/tables/${RT}/segments/${seg.name}`);
      expect(get.status).toBe(503);
      expect(store.resolves).toBe(0);

      const heads = await Promise.all(
        Array.from({ length: 40 }, () =>
          rawRequest(server.port, `/tables/${RT}/segments/${seg.name}`, { method: 'HEAD' }),
        ),
      );

      // Admission first, as for GET: refused, and no tree walked.
      expect(store.resolves).toBe(0);
      expect(heads.map((r) => r.status)).toEqual(heads.map(() => 503));
      release();
    } finally {
      await server.close();
    }
  });
});
