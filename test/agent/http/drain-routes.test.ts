import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DrainPreparation } from '../../../src/agent/drain/prepare.js';
import { registerDrainRoutes } from '../../../src/agent/http/drain-routes.js';
import type { Reconciler } from '../../../src/agent/repair/index.js';
import { HostedSegments } from '../../../src/helix/index.js';
import { silentLogger } from '../../../src/log.js';
import { startTestHttpServer, type TestHttpServer } from '../../helpers/http-app.js';
import { useSeededCluster } from '../../helpers/pinot-cluster.js';

/**
 * The HTTP contract of the drain routes: the token, the methods, the parameter, and the answers when nothing can be
 * known (a tracker that has not synced: cannot_tell, and prepare refuses to guess). The verdicts themselves are
 * test/agent/drain/assess.test.ts and, end to end, test/agent/commands/drain-check.test.ts.
 */
const TOKEN = 'drain-secret';
const world = useSeededCluster('drainroutes');

describe('drain routes', () => {
  let dir: string;
  let withRepair: TestHttpServer;
  let withoutRepair: TestHttpServer;
  let passes = 0;
  const reconciler = {
    requestPriority: () => {
      passes += 1;
      return Promise.reject(new Error('not expected'));
    },
    status: () => ({ segments: [], totals: {} }),
  } as unknown as Reconciler;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'drain-routes-'));
    // Never started: not synced, its server's liveness unknown. Nothing can be said.
    const hosted = new HostedSegments({ session: world.session, cluster: world.cluster, instance: 'Server_x_1' });
    const check = { session: world.session, hosted, cluster: world.cluster, instance: 'Server_x_1' };
    withRepair = await startTestHttpServer({
      dataDir: dir,
      token: TOKEN,
      routes: [
        (app) => registerDrainRoutes(app, { check, preparation: new DrainPreparation(reconciler, silentLogger) }),
      ],
    });
    withoutRepair = await startTestHttpServer({
      dataDir: dir,
      routes: [(app) => registerDrainRoutes(app, { check, preparation: undefined })],
    });
  });

  afterAll(async () => {
    await withRepair?.close();
    await withoutRepair?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const auth = { Authorization: `Bearer ${TOKEN}` };

  it.each([
    ['GET', '/drain/check'],
    ['POST', '/drain/prepare'],
  ])('%s %s requires the token', async (method, route) => {
    expect((await fetch(withRepair.url(route), { method })).status).toBe(401);
  });

  it('a check that cannot know answers 200 cannot_tell, with every reason', async () => {
    const res = await fetch(withRepair.url('/drain/check'), { headers: auth });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { verdict: string; reasons: string[]; scope: string; preparation: unknown };
    expect(body).toMatchObject({ verdict: 'cannot_tell', scope: 'server', preparation: null });
    expect(body.reasons).toEqual([
      'the hosted segments are not in sync with ZooKeeper yet',
      "the server's hosted segments are unknown: live instance not read yet",
    ]);
  });

  it('prepare refuses to guess (503) and starts nothing when the at-risk segments cannot be known', async () => {
    const res = await fetch(withRepair.url('/drain/prepare'), { method: 'POST', headers: auth });
    expect([res.status, res.headers.get('retry-after')]).toEqual([503, '5']);
    expect(((await res.json()) as { error: string }).error).toMatch(/^cannot tell which segments are at risk/);
    expect(passes).toBe(0);
  });

  it.each([
    ['/drain/check?domain=', 400],
    [`/drain/check?domain=${'z'.repeat(257)}`, 400],
    ['/drain/check?domain=us-east-1a', 200],
  ])('GET %s -> %i', async (route, status) => {
    const res = await fetch(withoutRepair.url(route));
    expect(res.status).toBe(status);
    if (status === 200) expect(await res.json()).toMatchObject({ scope: 'domain', drainedDomain: 'us-east-1a' });
  });

  it('prepare without a deep store is 404; other methods are 405 naming the right one', async () => {
    expect((await fetch(withoutRepair.url('/drain/prepare'), { method: 'POST' })).status).toBe(404);
    const wrong = await fetch(withoutRepair.url('/drain/prepare'));
    expect([wrong.status, wrong.headers.get('allow')]).toEqual([405, 'POST']);
    const put = await fetch(withoutRepair.url('/drain/check'), { method: 'PUT' });
    expect([put.status, put.headers.get('allow')]).toEqual([405, 'GET, HEAD']);
  });
});
