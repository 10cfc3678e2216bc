import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import {
  checkReference,
  dockerPath,
  hasPromtool,
  isObj,
  listAt,
  metricReferences,
  objAt,
  PROMTOOL,
  promtool,
  readJson,
  readYaml,
  sidecarMetricCatalog,
  type MetricCatalog,
  type Obj,
} from './support.js';

const dashboard = readJson<Obj>(dockerPath('grafana', 'dashboards', 'pinot-sidecar.json'));
const alerts = readYaml<Obj>(dockerPath('prometheus', 'alerts.yml'));
const rules = listAt(alerts, 'groups').flatMap((g) => listAt(g, 'rules')) as Obj[];

/** Panels at any depth (collapsed rows keep theirs inside). */
function allPanels(panels: unknown[]): Obj[] {
  return panels.flatMap((p) => (isObj(p) ? [p, ...allPanels((p.panels as unknown[] | undefined) ?? [])] : []));
}

const panels = allPanels(listAt(dashboard, 'panels'));
const variables = listAt(dashboard, 'templating', 'list') as Obj[];

/** [where, PromQL] for every query of the dashboard: panel targets and query variables. */
function dashboardQueries(): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const panel of panels) {
    for (const target of (panel.targets as Obj[] | undefined) ?? [])
      out.push([`panel "${String(panel.title)}"`, String(target.expr)]);
  }
  for (const v of variables.filter((x) => x.type === 'query')) {
    out.push([`variable $${String(v.name)}`, isObj(v.query) ? String(v.query.query) : String(v.query)]);
  }
  return out;
}

let catalog: MetricCatalog;
beforeAll(async () => {
  catalog = await sidecarMetricCatalog();
});

describe('every pinot_sidecar_* series the dashboard and the alerts query exists in /metrics', () => {
  it('the dashboard', () => {
    const refs = dashboardQueries().flatMap(([where, expr]) => metricReferences(where, expr));
    expect(refs.length).toBeGreaterThan(30);
    expect(refs.flatMap((r) => checkReference(r, catalog))).toEqual([]);
  });

  it('the alert rules (and recording rules, if any)', () => {
    const refs = rules.flatMap((r) => metricReferences(String(r.alert ?? r.record), String(r.expr)));
    expect(refs).toHaveLength(rules.length);
    expect(refs.flatMap((r) => checkReference(r, catalog))).toEqual([]);
  });

  it('the checker itself rejects what would select nothing', () => {
    const problems = (expr: string) => metricReferences('t', expr).flatMap((r) => checkReference(r, catalog));
    expect(problems('pinot_sidecar_deep_store_upload_duration_seconds_bucket{le="1"}')).toEqual([]);
    expect(problems('pinot_sidecar_deep_store_upload_duration_seconds_count')).toEqual([]);
    expect(problems('pinot_sidecar_deep_store_upload_duration_seconds')).toHaveLength(1);
    expect(problems('pinot_sidecar_segments_count')).toHaveLength(1);
    expect(problems('pinot_sidecar_no_such_metric')).toHaveLength(1);
    expect(problems('pinot_sidecar_deep_store_uploads_total{status="error"}')).toHaveLength(1);
    expect(problems('pinot_sidecar_deep_store_uploads_total{result="erorr"}')).toHaveLength(1);
    expect(problems('pinot_sidecar_zk_connected{instance=~"$instance"}')).toEqual([]);
    // Every family the sidecar declares has samples once the tables are known (the fixture covers them all;
    // prom-client's default metrics are left out: some, like active requests by type, are legitimately empty).
    for (const family of [...catalog.families.keys()].filter((f) => !/^pinot_sidecar_(nodejs|process)_/.test(f))) {
      const names = catalog.families.get(family) === 'histogram' ? [`${family}_bucket`] : [family];
      for (const name of names) expect(catalog.samples.get(name)?.length ?? 0, name).toBeGreaterThan(0);
    }
  });
});

describe('docker/grafana/dashboards/pinot-sidecar.json', () => {
  it('is a provisionable dashboard with instance and table variables', () => {
    expect(dashboard.uid).toBe('pinot-sidecar');
    expect(dashboard.id ?? null).toBeNull();
    const names = variables.map((v) => v.name);
    expect(names).toEqual(expect.arrayContaining(['datasource', 'instance', 'table']));
    expect(variables.find((v) => v.name === 'datasource')!.query).toBe('prometheus');
    for (const name of ['instance', 'table']) {
      const v = variables.find((x) => x.name === name)!;
      expect(v.multi).toBe(true);
      expect(v.includeAll).toBe(true);
    }
  });

  it('queries through the $datasource variable, with unique panel ids and a grid position', () => {
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const panel of panels) {
      expect(objAt(panel, 'gridPos')).toMatchObject({
        h: expect.any(Number),
        w: expect.any(Number),
        x: expect.any(Number),
        y: expect.any(Number),
      });
      if (panel.type === 'row') continue;
      expect(objAt(panel, 'datasource').uid, String(panel.title)).toBe('${datasource}');
      const targets = listAt(panel, 'targets') as Obj[];
      expect(targets.length).toBeGreaterThan(0);
      expect(new Set(targets.map((t) => t.refId)).size).toBe(targets.length);
    }
  });

  it('covers repair backlog and outcomes, transfer throughput and latency, commit state per table, ZooKeeper', () => {
    const exprs = dashboardQueries().map(([, e]) => e);
    const queried = (metric: string) => exprs.some((e) => e.includes(metric));
    for (const metric of [
      'pinot_sidecar_repair_queue_depth',
      'pinot_sidecar_repair_segments',
      'pinot_sidecar_deep_store_uploads_total',
      'pinot_sidecar_deep_store_upload_bytes_total',
      'pinot_sidecar_peer_download_bytes_total',
      'pinot_sidecar_peer_downloads_total',
      'pinot_sidecar_pauseless_consumption_enabled',
      'pinot_sidecar_segments{',
      'pinot_sidecar_committing_segments_stuck',
      'pinot_sidecar_pauseless_segments_in_unrecoverable_error',
      'pinot_sidecar_zk_connected',
      'pinot_sidecar_zk_session_expirations_total',
      'pinot_sidecar_zk_requests_total',
    ]) {
      expect(queried(metric), metric).toBe(true);
    }
    // Latency panels: quantiles over the _bucket series, aggregated by le.
    const quantiles = exprs.filter((e) => e.includes('histogram_quantile'));
    for (const histogram of [
      'pinot_sidecar_deep_store_upload_duration_seconds',
      'pinot_sidecar_peer_download_duration_seconds',
    ]) {
      const uses = quantiles.filter((e) => e.includes(`${histogram}_bucket`));
      expect(uses.length, histogram).toBeGreaterThanOrEqual(2);
      for (const e of uses) expect(e).toMatch(/sum by \((?:[^)]*\b)?le\b[^)]*\) \(rate\(/);
    }
    // Per-table panels group by table.
    expect(exprs.filter((e) => /by \((?:[^)]*, )?table\b/.test(e)).length).toBeGreaterThanOrEqual(5);
  });
});

describe.skipIf(!hasPromtool)(
  `promtool (${PROMTOOL})${hasPromtool ? '' : ' (skipped: promtool is not installed; apt-get install prometheus)'}`,
  () => {
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(path.join(tmpdir(), 'pinot-sidecar-promtool-'));
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('check rules docker/prometheus/alerts.yml', async () => {
      const { code, output } = await promtool(['check', 'rules', dockerPath('prometheus', 'alerts.yml')]);
      expect(output).toContain('SUCCESS');
      expect(code, output).toBe(0);
    });

    it('check config docker/prometheus/prometheus.yml (rule files resolve next to it, offline)', async () => {
      const { code, output } = await promtool(['check', 'config', dockerPath('prometheus', 'prometheus.yml')]);
      expect(code, output).toBe(0);
    });

    // The alert semantics, on synthetic series: thresholds, `for` durations and aggregation. promtool compares
    // annotations too, so the rules are tested without them (their text is checked in kubernetes.test.ts).
    it('test rules: each alert fires when it should and not before', async () => {
      const rulesFile = path.join(dir, 'rules.yml');
      const bare = structuredClone<Obj>(alerts);
      for (const rule of listAt(bare, 'groups').flatMap((g) => listAt(g, 'rules')) as Obj[]) delete rule.annotations;
      await writeFile(rulesFile, stringify(bare));
      const s = (labels: string, values: string) => ({ series: `${labels}`, values });
      const expected = (name: string, evalTime: string, labels: Array<Record<string, string>>) => ({
        eval_time: evalTime,
        alertname: name,
        exp_alerts: labels.map((l) => ({ exp_labels: l })),
      });
      const table = 'events_REALTIME';
      const test = {
        rule_files: [rulesFile],
        evaluation_interval: '1m',
        tests: [
          {
            interval: '1m',
            input_series: [
              s(
                `pinot_sidecar_segments_missing_deep_store{instance="s1",job="pinot-sidecar",table="${table}"}`,
                '1x45',
              ),
              s(
                `pinot_sidecar_segments_missing_deep_store{instance="s2",job="pinot-sidecar",table="${table}"}`,
                '0x45',
              ),
            ],
            alert_rule_test: [
              expected('PinotSidecarSegmentsMissingDeepStore', '29m', []),
              expected('PinotSidecarSegmentsMissingDeepStore', '31m', [
                { severity: 'warning', instance: 's1', job: 'pinot-sidecar', table },
              ]),
            ],
          },
          {
            interval: '1m',
            input_series: [
              s(`pinot_sidecar_committing_segments_stuck{instance="s1",job="pinot-sidecar",table="${table}"}`, '1x20'),
            ],
            alert_rule_test: [
              expected('PinotSidecarCommitStuck', '9m', []),
              expected('PinotSidecarCommitStuck', '11m', [
                { severity: 'warning', instance: 's1', job: 'pinot-sidecar', table },
              ]),
            ],
          },
          {
            // Each segment is counted by one sidecar: the alert is per table, not per instance.
            interval: '1m',
            input_series: [
              s(
                `pinot_sidecar_pauseless_segments_in_unrecoverable_error{instance="s1",job="pinot-sidecar",table="${table}"}`,
                '1x10',
              ),
              s(
                `pinot_sidecar_pauseless_segments_in_unrecoverable_error{instance="s2",job="pinot-sidecar",table="${table}"}`,
                '0x10',
              ),
              s(
                `pinot_sidecar_pauseless_segments_in_unrecoverable_error{instance="s1",job="pinot-sidecar",table="other_REALTIME"}`,
                '0x10',
              ),
            ],
            alert_rule_test: [
              expected('PinotSidecarPauselessUnrecoverableError', '4m', []),
              expected('PinotSidecarPauselessUnrecoverableError', '6m', [{ severity: 'critical', table }]),
            ],
          },
          {
            // s1 fails on every retry (backoff capped at 5 min: one error per 5 min); s2 had a single error;
            // s3 only succeeds.
            interval: '1m',
            input_series: [
              s(
                `pinot_sidecar_deep_store_uploads_total{instance="s1",job="pinot-sidecar",table="${table}",result="error"}`,
                '0+0.2x60',
              ),
              s(
                `pinot_sidecar_deep_store_uploads_total{instance="s2",job="pinot-sidecar",table="${table}",result="error"}`,
                '0 0 0 1x57',
              ),
              s(
                `pinot_sidecar_deep_store_uploads_total{instance="s3",job="pinot-sidecar",table="${table}",result="success"}`,
                '0+1x60',
              ),
            ],
            alert_rule_test: [
              expected('PinotSidecarDeepStoreUploadFailures', '12m', []),
              expected('PinotSidecarDeepStoreUploadFailures', '20m', [{ severity: 'warning', instance: 's1', table }]),
              expected('PinotSidecarDeepStoreUploadFailures', '40m', [{ severity: 'warning', instance: 's1', table }]),
            ],
          },
          {
            interval: '1m',
            input_series: [
              s('pinot_sidecar_zk_connected{instance="s1",job="pinot-sidecar"}', '0x10'),
              s('pinot_sidecar_zk_connected{instance="s2",job="pinot-sidecar"}', '1x10'),
            ],
            alert_rule_test: [
              expected('PinotSidecarZooKeeperDisconnected', '4m', []),
              expected('PinotSidecarZooKeeperDisconnected', '6m', [
                { severity: 'warning', instance: 's1', job: 'pinot-sidecar' },
              ]),
            ],
          },
        ],
      };
      const testFile = path.join(dir, 'alerts.test.yml');
      await writeFile(testFile, stringify(test));
      const { code, output } = await promtool(['test', 'rules', testFile], dir);
      expect(output).toContain('SUCCESS');
      expect(code, output).toBe(0);
    });
  },
);
