import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerRepairRoutes } from '../../../src/agent/http/repair-routes.js';
import { ReconcilerStoppedError, type PassSummary, type Reconciler } from '../../../src/agent/repair/index.js';
import { silentLogger } from '../../../src/log.js';
import { startTestHttpServer, type TestHttpServer } from '../../helpers/http-app.js';

/**
 * The HTTP contract of the repair routes. The Reconciler behind them is exercised against real
 * ZooKeeper and S3 in test/agent/repair; here a stand-in with its two methods pins what the routes
 * answer for each of its outcomes.
 */
const summary: PassSummary = {
  trigger: 'request',
  startedAt: '2026-11-22T00:00:00.000Z',
  finishedAt: '2026-11-22T00:00:01.000Z',
  considered: 3,
  attempted: 1,
  totals: {
    pending: 0,
    uploading: 0,
    verifying: 0,
    committing: 0,
    done: 1,
    fixed_by_other: 0,
    gone: 0,
    skipped: 2,
    retrying: 0,
    failed: 0,
  },
};

describe('repair routes', () => {
  let dir: string;
  let stopped = false;
  let passes = 0;
  let on: TestHttpServer;
  let off: TestHttpServer;
  const reconciler = {
    status: () => ({ segments: [], totals: summary.totals }),
    requestPass: () => {
      passes += 1;
      return stopped ? Promise.reject(new ReconcilerStoppedError()) : Promise.resolve(summary);
    },
  } as unknown as Reconciler;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'repair-routes-'));
    on = await startTestHttpServer({
      dataDir: dir,
      routes: [(app) => registerRepairRoutes(app, reconciler, silentLogger)],
    });
    off = await startTestHttpServer({
      dataDir: dir,
      routes: [(app) => registerRepairRoutes(app, undefined, silentLogger)],
    });
  });
  afterAll(async () => {
    await on.close();
    await off.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('GET /repair/status returns the reconciler status as JSON', async () => {
    const res = await fetch(on.url('/repair/status'));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ segments: [], totals: summary.totals, deepStore: null });
  });

  it('POST /repair/run answers 202 at once, or the summary with ?wait=true', async () => {
    const before = passes;
    const started = await fetch(on.url('/repair/run'), { method: 'POST' });
    expect(started.status).toBe(202);
    expect(await started.json()).toMatchObject({ accepted: true });
    const waited = await fetch(on.url('/repair/run?wait=true'), { method: 'POST' });
    expect(waited.status).toBe(200);
    expect(await waited.json()).toEqual(summary);
    expect(passes - before).toBe(2);
  });

  it('a stopped reconciler is a 503 to retry, not an internal error', async () => {
    stopped = true;
    try {
      const res = await fetch(on.url('/repair/run?wait=true'), { method: 'POST' });
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).not.toBeNull();
      expect(await res.json()).toMatchObject({ status: 503, error: 'the repair reconciler is stopped' });
    } finally {
      stopped = false;
    }
  });

  it('without a deep store both routes say repair is off (404 JSON)', async () => {
    for (const [method, route] of [
      ['GET', '/repair/status'],
      ['POST', '/repair/run'],
    ] as const) {
      const res = await fetch(off.url(route), { method });
      expect(res.status).toBe(404);
      expect(((await res.json()) as { error: string }).error).toMatch(/repair is off/);
    }
  });

  it('another method on a repair path is a 405 naming the right one, not a 404', async () => {
    const before = passes;
    for (const server of [on, off]) {
      for (const [method, route, allow] of [
        ['GET', '/repair/run', 'POST'],
        ['PUT', '/repair/run', 'POST'],
        ['DELETE', '/repair/run', 'POST'],
        ['POST', '/repair/status', 'GET, HEAD'],
      ] as const) {
        const res = await fetch(server.url(route), { method });
        expect(res.status).toBe(405);
        expect(res.headers.get('allow')).toBe(allow);
        expect(await res.json()).toMatchObject({
          status: 405,
          error: `${method} ${route} is not allowed; use ${allow.replace(', ', ' or ')}`,
        });
      }
    }
    expect(passes).toBe(before);
  });
});
