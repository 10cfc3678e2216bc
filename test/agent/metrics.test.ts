import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import { createMetrics, type Metrics } from '../../src/agent/metrics.js';
import { populatedMetrics } from '../helpers/populated-metrics.js';

const PROMTOOL = '/usr/bin/promtool';

/** `promtool check metrics` over an exposition: its exit code and everything it printed. */
function promtoolCheckMetrics(text: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = execFile(PROMTOOL, ['check', 'metrics'], (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      resolve({ code, output: `${stdout}${stderr}` });
    });
    child.stdin!.end(text);
  });
}

/** Allocates short-lived garbage until prom-client's GC observer has recorded a collection (no sleeps). */
async function untilGcObserved(metrics: Metrics): Promise<void> {
  let sink: unknown[] = [];
  await vi.waitFor(
    async () => {
      for (let i = 0; i < 200_000; i += 1) sink.push({ i });
      sink = [];
      expect(await metrics.registry.getSingleMetricAsString('pinot_sidecar_nodejs_gc_duration_seconds')).toMatch(
        /_count\{kind="/,
      );
    },
    { timeout: 10_000, interval: 20 },
  );
}

describe('/metrics passes promtool', () => {
  it('exits 0 and prints nothing for the whole exposition, process metrics included', async () => {
    if (!existsSync(PROMTOOL)) throw new Error('promtool is missing: apt-get install prometheus');
    const metrics = populatedMetrics('t_REALTIME');
    await untilGcObserved(metrics);
    const text = await metrics.registry.metrics();
    // The families that carry labels of their own are exposed, so promtool sees them.
    expect(text).toMatch(/^pinot_sidecar_nodejs_gc_duration_seconds_count\{kind="[a-z]+"\} \d+$/m);
    expect(text).toMatch(/^pinot_sidecar_nodejs_heap_space_size_used_bytes\{space="[a-z_]+"\} \d+$/m);
    expect(text).toMatch(/^pinot_sidecar_process_cpu_seconds_total \S+$/m);
    expect(text).toMatch(/^pinot_sidecar_deep_store_uploads_total\{table="t_REALTIME",result="success"\} 0$/m);
    expect(text).toMatch(/^pinot_sidecar_zk_requests_total\{op="getData"\} 0$/m);
    expect(await promtoolCheckMetrics(text)).toEqual({ code: 0, output: '' });
  });

  it('does not export prom-client gauges named like counters (their labelled siblings carry the same figure)', async () => {
    const text = await createMetrics().registry.metrics();
    const gaugesNamedTotal = [...text.matchAll(/^# TYPE (\S+_total) gauge$/gm)].map((m) => m[1]);
    expect(gaugesNamedTotal).toEqual([]);
    for (const kind of ['handles', 'requests', 'resources'])
      expect(text).toContain(`# TYPE pinot_sidecar_nodejs_active_${kind} gauge`);
  });
});

/**
 * The label names each family may carry. The sidecar's own metrics: table/status/result/op only, never a
 * segment name (README.md, "Metrics"). prom-client's process metrics: the bounded labels README lists.
 */
const SIDECAR_LABELS = new Set(['table', 'status', 'result', 'op']);
const PROCESS_METRIC_LABELS: Record<string, string[]> = {
  nodejs_active_handles: ['type'],
  nodejs_active_requests: ['type'],
  nodejs_active_resources: ['type'],
  nodejs_heap_space_size_total_bytes: ['space'],
  nodejs_heap_space_size_used_bytes: ['space'],
  nodejs_heap_space_size_available_bytes: ['space'],
  nodejs_gc_duration_seconds: ['kind'],
  nodejs_version_info: ['version', 'major', 'minor', 'patch'],
};

describe('labels of everything exported', () => {
  it('are table/status/result/op on the sidecar metrics, and only the documented ones on the process metrics', () => {
    const sidecarLabelsOutsideTheSet: string[] = [];
    const processMetricLabels: Record<string, string[]> = {};
    for (const metric of createMetrics().registry.getMetricsAsArray() as unknown as Array<{
      name: string;
      labelNames: string[];
    }>) {
      const name = metric.name.replace(/^pinot_sidecar_/, '');
      if (/^(nodejs|process)_/.test(name)) {
        if (metric.labelNames.length > 0) processMetricLabels[name] = metric.labelNames;
      } else {
        for (const label of metric.labelNames)
          if (!SIDECAR_LABELS.has(label)) sidecarLabelsOutsideTheSet.push(`${name}{${label}}`);
      }
    }
    expect(sidecarLabelsOutsideTheSet).toEqual([]);
    expect(processMetricLabels).toEqual(PROCESS_METRIC_LABELS);
  });
});
