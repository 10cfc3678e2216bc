import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createMetrics, type Metrics } from '../../../src/agent/metrics.js';
import {
  DEEP_STORE_PROBE_DEFAULTS,
  DeepStoreProbe,
  isChange,
  timeoutVerdict,
  verdictOf,
  type ProbeVerdict,
} from '../../../src/agent/repair/deep-store-probe.js';
import { DeepStoreError } from '../../../src/deepstore/errors.js';
import { FileDeepStore } from '../../../src/deepstore/file-deep-store.js';
import { TEMP_FOLDER } from '../../../src/deepstore/file-store-temps.js';
import type { ProbeMode, ProbeOptions, ProbeResult } from '../../../src/deepstore/index.js';
import { type S3DeepStore } from '../../../src/deepstore/s3-deep-store.js';
import { faults } from '../../helpers/fault-proxy.js';
import { captureLogs, type CapturedLogs } from '../../helpers/log-capture.js';
import { useProxiedS3 } from '../../helpers/proxied-s3.js';

/**
 * The agent's deep-store probe (issue 12, "deep store unusable"): at start and periodically, the last answer
 * kept for status and readiness, `pinot_sidecar_deep_store_up` following it (absent before the first answer),
 * each change logged once with its exact cause. Real stores: a file store whose folder goes away and comes
 * back, the S3 store behind the fault proxy for a store that does not answer.
 */

const denied = (step: 'write' | 'delete'): ProbeResult => ({
  ok: false,
  mode: 'write',
  uri: 's3://b/k',
  step,
  error: new DeepStoreError('denied', { code: 'AccessDenied', retriable: false }),
});

describe('verdictOf / isChange (pure)', () => {
  const up = verdictOf({ ok: true, mode: 'write', uri: 's3://b/k' });
  const upWarned = verdictOf({
    ok: true,
    mode: 'write',
    uri: 's3://b/k',
    warning: { step: 'delete', error: new DeepStoreError('no delete', { code: 'AccessDenied', retriable: false }) },
  });
  const deniedAtWrite = verdictOf(denied('write'));
  const unreachable = verdictOf({
    ok: false,
    mode: 'write',
    uri: 's3://b/k',
    step: 'write',
    error: new DeepStoreError('cannot reach x', { code: 'ECONNREFUSED', retriable: true }),
  });
  const sameCauseOtherWords = verdictOf({
    ok: false,
    mode: 'write',
    uri: 's3://b/k',
    step: 'write',
    error: new DeepStoreError('cannot reach y', { code: 'ECONNREFUSED', retriable: true }),
  });
  const timedOut = timeoutVerdict('write', 30_000);

  it("maps the store's answer to state, cause and warning", () => {
    expect(up).toEqual({ state: 'up', cause: null, warning: null, uri: 's3://b/k' });
    expect(upWarned).toMatchObject({
      state: 'up',
      cause: null,
      warning: { step: 'delete', code: 'AccessDenied', message: 'no delete', retriable: false },
    });
    expect(deniedAtWrite).toEqual({
      state: 'down',
      cause: { step: 'write', code: 'AccessDenied', message: 'denied', retriable: false },
      warning: null,
      uri: 's3://b/k',
    });
    expect(timedOut).toMatchObject({
      state: 'down',
      cause: {
        step: null,
        code: 'ProbeTimeout',
        retriable: true,
        message: expect.stringContaining('did not finish within 30 s'),
      },
    });
  });

  it.each<[string, ProbeVerdict | undefined, ProbeVerdict, boolean]>([
    ['first answer, up', undefined, up, true],
    ['first answer, down', undefined, deniedAtWrite, true],
    ['up again', up, up, false],
    ['down, same cause', deniedAtWrite, deniedAtWrite, false],
    [
      'down, same step and code in other words (a socket address, a temp name)',
      unreachable,
      sameCauseOtherWords,
      false,
    ],
    ['down for another cause', deniedAtWrite, unreachable, true],
    ['down to up', deniedAtWrite, up, true],
    ['up to down', up, unreachable, true],
    ['up, then up with a warning', up, upWarned, true],
    ['up with the same warning', upWarned, upWarned, false],
    ['answered, then timed out', unreachable, timedOut, true],
  ])('%s', (_name, previous, next, expected) => {
    expect(isChange(previous, next)).toBe(expected);
  });
});

/** The gauge's samples: [] when absent. */
async function gauge(metrics: Metrics): Promise<number[]> {
  return (await metrics.deepStoreUp.get()).values.map((v) => v.value);
}

describe('DeepStoreProbe with a file store whose folder goes away and comes back', () => {
  let root: string;
  let base: string;
  let metrics: Metrics;
  let logs: CapturedLogs;
  let probe: DeepStoreProbe;

  beforeEach(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'deep-store-probe-'));
    base = path.join(root, 'deepstore');
    metrics = createMetrics({ defaultMetrics: false });
    logs = captureLogs();
  });

  afterEach(async () => {
    await probe?.stop();
    await rm(root, { recursive: true, force: true });
  });

  function newProbe(mode: ProbeMode = 'write'): DeepStoreProbe {
    probe = new DeepStoreProbe({
      deepStore: new FileDeepStore(pathToFileURL(base).href),
      mode,
      probeName: 'Server_a_8098',
      metrics,
      logger: logs.logger,
    });
    return probe;
  }

  const downLines = () => logs.lines.filter((l) => l.event === 'deep_store_down');
  const upLines = () => logs.lines.filter((l) => l.event === 'deep_store_up');

  it('unknown and no gauge sample before the first answer; down (once), up (once), the gauge following', async () => {
    const p = newProbe();
    expect(p.status()).toEqual({
      mode: 'write',
      state: 'unknown',
      cause: null,
      warning: null,
      uri: null,
      checkedAt: null,
      since: null,
    });
    expect(p.readinessNote()).toBeNull();
    expect(await gauge(metrics)).toEqual([]);
    expect(await metrics.registry.metrics()).toMatch(
      /# TYPE pinot_sidecar_deep_store_up gauge\n(?!pinot_sidecar_deep_store_up )/,
    );

    // The folder is missing (the volume not mounted): down, with the store's exact words.
    const down = await p.check();
    expect(down).toMatchObject({
      state: 'down',
      cause: { step: 'folder', code: 'DeepStoreFolderMissing', retriable: false },
    });
    expect(down.cause?.message).toBe(
      `deep-store write probe failed at folder: deep-store folder ${base} is missing or not a folder (is the volume mounted?)`,
    );
    expect(p.readinessNote()).toBe(`deep store down: ${down.cause?.message}`);
    expect(await gauge(metrics)).toEqual([0]);
    await p.check();
    await p.check();
    expect(await gauge(metrics)).toEqual([0]);
    expect(downLines()).toHaveLength(1);
    expect(downLines()[0]).toMatchObject({
      level: 50,
      mode: 'write',
      step: 'folder',
      code: 'DeepStoreFolderMissing',
      retriable: false,
      cause: down.cause?.message,
      msg: `the deep store is unusable: ${down.cause?.message}`,
    });
    expect(p.status().since).toBe(down.since);

    // The volume is mounted: up, logged once.
    await rename(await mkdtemp(path.join(root, 'mounting-')), base);
    const up = await p.check();
    expect(up).toMatchObject({
      state: 'up',
      cause: null,
      warning: null,
      uri: pathToFileURL(path.join(base, TEMP_FOLDER, 'Server_a_8098.probe')).href,
    });
    expect(p.readinessNote()).toBeNull();
    expect(await gauge(metrics)).toEqual([1]);
    await p.check();
    expect(upLines()).toHaveLength(1);
    expect(upLines()[0]).toMatchObject({ level: 30, mode: 'write', msg: 'the deep store is usable' });
    expect(downLines()).toHaveLength(1);
  });

  it('a new cause while down is logged, the same cause again is not', async () => {
    const p = newProbe();
    await p.check();
    await rename(await mkdtemp(path.join(root, 'mounting-')), base);
    await writeFile(path.join(base, TEMP_FOLDER), 'in the way');
    expect(await p.check()).toMatchObject({ state: 'down', cause: { step: 'write', code: 'TempFolderBlocked' } });
    await p.check();
    expect(downLines().map((l) => l.code)).toEqual(['DeepStoreFolderMissing', 'TempFolderBlocked']);
    await rm(path.join(base, TEMP_FOLDER));
    expect(await p.check()).toMatchObject({ state: 'up' });
    expect(upLines()).toHaveLength(1);
  });

  it('read mode: the same folder checks, nothing written', async () => {
    const p = newProbe('read');
    expect(await p.check()).toMatchObject({
      mode: 'read',
      state: 'down',
      cause: { step: 'folder', code: 'DeepStoreFolderMissing' },
    });
    await rename(await mkdtemp(path.join(root, 'mounting-')), base);
    expect(await p.check()).toMatchObject({ mode: 'read', state: 'up', uri: pathToFileURL(base).href });
    expect(await gauge(metrics)).toEqual([1]);
  });

  it('start() probes at once and then every interval; after stop() no probe runs', async () => {
    newProbe();
    probe = new DeepStoreProbe({
      deepStore: new FileDeepStore(pathToFileURL(base).href),
      mode: 'write',
      metrics,
      logger: logs.logger,
      intervalMs: 25,
    });
    probe.start();
    await vi.waitFor(() => expect(downLines()).toHaveLength(1));
    // Nobody calls check() here: only the interval can see the folder come back.
    await rename(await mkdtemp(path.join(root, 'mounting-')), base);
    await vi.waitFor(() => expect(upLines()).toHaveLength(1));
    await probe.stop();
    const after = probe.status();
    await rm(base, { recursive: true });
    expect(await probe.check()).toEqual(after);
    expect(await gauge(metrics)).toEqual([1]);
  });
});

describe('DeepStoreProbe with a store that does not answer', () => {
  const s3 = useProxiedS3();
  let probe: DeepStoreProbe | undefined;

  afterEach(async () => {
    await probe?.stop();
    probe = undefined;
  });

  async function s3Store(): Promise<S3DeepStore> {
    return (await s3.newStore()).store;
  }

  it('a probe past its timeout is down (ProbeTimeout) and its request is aborted; the next probe is up', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const logs = captureLogs();
    probe = new DeepStoreProbe({
      deepStore: await s3Store(),
      mode: 'write',
      metrics,
      logger: logs.logger,
      timeoutMs: 200,
    });
    s3.proxy.inject('PutObject', faults.delay(60_000));
    const status = await probe.check();
    expect(status).toMatchObject({
      state: 'down',
      cause: {
        step: null,
        code: 'ProbeTimeout',
        retriable: true,
        message:
          'deep-store write probe did not finish within 0.2 s: the store, or the way to it, takes requests and does not answer (a black-holed endpoint, a hung NFS mount)',
      },
    });
    expect(await gauge(metrics)).toEqual([0]);
    expect(logs.lines.filter((l) => l.event === 'deep_store_down').map((l) => l.code)).toEqual(['ProbeTimeout']);
    // The client gave up on the held request (the proxy saw its socket close) ...
    await vi.waitFor(() => expect(s3.proxy.log[0]?.endedAt).not.toBeNull());
    // ... which settled the store's call: the next probe is a real one.
    await vi.waitFor(async () => expect((await probe!.check()).state).toBe('up'));
    expect(s3.proxy.count('PutObject')).toBeGreaterThanOrEqual(2);
  });

  it('a store that never settles its probe (a hung mount ignores aborts): down, and no second call piles up until it settles', async () => {
    let calls = 0;
    let settle!: (result: ProbeResult) => void;
    const inner = await s3Store();
    const hung = Object.assign(Object.create(inner) as S3DeepStore, {
      probe(mode: ProbeMode, options?: ProbeOptions): Promise<ProbeResult> {
        calls += 1;
        // Later calls answer at once: a real probe against a 50 ms timeout would depend on the machine's speed.
        if (calls > 1) return Promise.resolve({ ok: true, mode, uri: `probe:${options?.name ?? ''}` });
        return new Promise((resolve) => (settle = resolve));
      },
    });
    probe = new DeepStoreProbe({ deepStore: hung, mode: 'write', timeoutMs: 50 });
    expect(await probe.check()).toMatchObject({ state: 'down', cause: { code: 'ProbeTimeout' } });
    expect(await probe.check()).toMatchObject({ state: 'down', cause: { code: 'ProbeTimeout' } });
    expect(calls).toBe(1);
    settle({ ok: true, mode: 'write', uri: 's3://x/y' });
    await vi.waitFor(async () => expect((await probe!.check()).state).toBe('up'));
    expect(calls).toBe(2);
  });

  it('stop() during a probe: resolves, records nothing, leaves the gauge absent', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    probe = new DeepStoreProbe({ deepStore: await s3Store(), mode: 'read', metrics });
    s3.proxy.inject('ListObjects', faults.delay(60_000));
    const seen = new Promise<void>((resolve) => {
      const stop = s3.proxy.observe({ request: () => (stop(), resolve()) });
    });
    probe.start();
    await seen;
    await probe.stop();
    expect(probe.status().state).toBe('unknown');
    expect(await gauge(metrics)).toEqual([]);
  });

  it('the default interval and timeout', () => {
    expect(DEEP_STORE_PROBE_DEFAULTS).toEqual({ intervalMs: 60_000, timeoutMs: 30_000 });
  });
});
