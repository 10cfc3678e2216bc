import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatDeepStore, formatStatus, type RepairStatusBody } from '../../../src/agent/commands/status.js';
import { runCli } from '../../helpers/cli.js';
import { startTestHttpServer, type TestHttpServer } from '../../helpers/http-app.js';
import { freePort } from '../../helpers/zookeeper-server.js';

const healthy: RepairStatusBody = {
  segments: [
    {
      table: 'events_REALTIME',
      segment: 'events__0__1__20240101T0000Z',
      state: 'done',
      attempts: 1,
      uri: 's3://b/events/events__0__1__20240101T0000Z',
    },
    {
      table: 'events_REALTIME',
      segment: 'events__0__2__20240101T0000Z',
      state: 'retrying',
      attempts: 3,
      nextAttemptAt: '2026-11-22T03:00:00.000Z',
      lastError: 'SlowDown: Please reduce\nyour request rate',
    },
    { table: 'events_REALTIME', segment: 'events__0__3__20240101T0000Z', state: 'skipped', reason: 'crc_mismatch' },
  ],
  totals: { done: 1, retrying: 1, skipped: 1, failed: 0 },
};
const failing: RepairStatusBody = {
  segments: [
    ...healthy.segments,
    {
      table: 'orders_REALTIME',
      segment: 'orders__1__9__20240101T0000Z',
      state: 'failed',
      attempts: 7,
      lastError: 'AccessDenied (403)',
    },
  ],
  totals: { ...healthy.totals, failed: 1 },
};

describe('pinot-sidecar status', () => {
  let body: RepairStatusBody = healthy;
  let readiness = { ready: true, reasons: [] as string[], warnings: [] as string[] };
  let server: TestHttpServer;
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'status-'));
    await writeFile(path.join(dir, 'token'), 'tok\n');
    server = await startTestHttpServer({
      dataDir: dir,
      token: 'tok',
      readiness: () => readiness,
      routes: [(app) => app.get('/repair/status', (c) => c.json(body))],
    });
  });
  afterAll(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('prints a table and a summary; exit 0 when nothing failed', async () => {
    body = healthy;
    const r = await runCli(['status', '--url', server.url(''), '--token-file', path.join(dir, 'token')]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('READY');
    expect(lines[2]).toMatch(/^TABLE\s+SEGMENT\s+STATE\s+ATTEMPTS\s+NEXT RETRY\s+LAST ERROR \/ REASON$/);
    expect(lines[4]).toMatch(
      /events__0__2__20240101T0000Z\s+retrying\s+3\s+2026-11-22T03:00:00.000Z\s+SlowDown: Please reduce your request rate$/,
    );
    expect(lines[5]).toMatch(/skipped\s+0\s+-\s+crc_mismatch$/);
    expect(lines.at(-1)).toBe('3 segments tracked: 1 done, 1 retrying, 1 skipped');
  });

  it('exits 1 when a segment failed', async () => {
    body = failing;
    const r = await runCli(['status', '--url', server.url('')], { PINOT_SIDECAR_TOKEN_FILE: path.join(dir, 'token') });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/orders__1__9__20240101T0000Z\s+failed\s+7\s+-\s+AccessDenied \(403\)/);
  });

  it('says first why the sidecar is not ready, and what it warns about; exit 1 (an operator is needed)', async () => {
    body = healthy;
    readiness = {
      ready: false,
      reasons: ['server: instance Server_x is not registered in cluster C'],
      warnings: ['deep_store: NoSuchBucket'],
    };
    try {
      const r = await runCli(['status', '--url', server.url(''), '--token-file', path.join(dir, 'token')]);
      expect(r.code).toBe(1);
      expect(r.stdout.split('\n').slice(0, 3)).toEqual([
        'NOT READY',
        '  not ready: server: instance Server_x is not registered in cluster C',
        '  warning:   deep_store: NoSuchBucket',
      ]);
    } finally {
      readiness = { ready: true, reasons: [], warnings: [] };
    }
  });

  it('--json prints the raw bodies', async () => {
    body = healthy;
    const r = await runCli(['status', '--url', server.url(''), '--json', '--token-file', path.join(dir, 'token')]);
    expect(JSON.parse(r.stdout)).toEqual({ health: { status: 'ready', reasons: [], warnings: [] }, ...healthy });
  });

  it('exits 2 with the reason when the sidecar refuses or cannot be reached', async () => {
    const denied = await runCli(['status', '--url', server.url('')]);
    expect(denied.code).toBe(2);
    expect(denied.stderr).toMatch(/answered 401/);
    const port = await freePort();
    const down = await runCli(['status', '--url', `http://127.0.0.1:${port}`]);
    expect(down.code).toBe(2);
    expect(down.stderr).toBe(
      `pinot-sidecar status: http://127.0.0.1:${port}: connection refused by 127.0.0.1:${port} (is the sidecar running? is --url right?)\n`,
    );
  });

  it('formats an empty state as a summary only', () => {
    expect(formatStatus({ segments: [], totals: {} })).toBe('0 segments tracked');
  });

  it.each([
    { name: 'not probed', probe: null, text: '' },
    {
      name: 'up',
      probe: {
        state: 'up',
        mode: 'write',
        checkedAt: '2026-12-02T07:00:00.000Z',
        since: null,
        cause: null,
        warning: null,
      },
      text: 'deep store: up (write probe, checked 2026-12-02T07:00:00.000Z)\n',
    },
    {
      name: 'up with a warning',
      probe: {
        state: 'up',
        mode: 'write',
        checkedAt: null,
        since: null,
        cause: null,
        warning: { message: 'delete refused' },
      },
      text: 'deep store: up (write probe)\n  warning:   delete refused\n',
    },
    {
      name: 'down',
      probe: {
        state: 'down',
        mode: 'read',
        checkedAt: null,
        since: '2026-12-02T06:00:00.000Z',
        cause: { message: 'the bucket does not exist' },
        warning: null,
      },
      text: 'deep store: DOWN since 2026-12-02T06:00:00.000Z: the bucket does not exist\n',
    },
  ])('the deep store line: $name', ({ probe, text }) => {
    expect(formatDeepStore(probe)).toBe(text);
  });
});
