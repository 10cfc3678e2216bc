import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { SERVE_OPTIONS } from '../src/agent/config.js';
import { createMetrics } from '../src/agent/metrics.js';
import { repoRoot } from './helpers/fixtures.js';

const readme = readFileSync(path.join(repoRoot, 'README.md'), 'utf8');

describe('README stays in step with the code', () => {
  it('names the two commands a fresh machine runs', () => {
    expect(readme).toContain('npm ci && npm run demo');
    expect(readme).toContain('npm ci && npm test');
  });

  it.each(Object.values(SERVE_OPTIONS).map((o) => [o.flag, o.env]))('documents --%s / %s', (flag, env) => {
    expect(readme).toContain(`\`--${flag}\``);
    expect(readme).toContain(`\`${env}\``);
  });

  it('documents every sidecar metric', async () => {
    const names = (await createMetrics({ defaultMetrics: false }).registry.getMetricsAsJSON()).map((m) =>
      m.name.replace(/^pinot_sidecar_/, ''),
    );
    const missing = names.filter((n) => !readme.includes(n));
    expect(missing).toEqual([]);
  });

  it('names every label /metrics carries in its Metrics section, process metrics included', () => {
    const start = readme.indexOf('\n## Metrics');
    const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
    const metrics = createMetrics().registry.getMetricsAsArray() as unknown as Array<{ labelNames: readonly string[] }>;
    const labels = new Set(metrics.flatMap((m) => m.labelNames));
    expect(labels.size).toBeGreaterThan(4);
    expect([...labels].filter((label) => !section.includes(`\`${label}\``))).toEqual([]);
  });

  it('has a runbook section for every alert, where its runbook_url points', () => {
    const rules = parse(readFileSync(path.join(repoRoot, 'docker/prometheus/alerts.yml'), 'utf8')) as {
      groups: Array<{ rules: Array<{ alert?: string; annotations?: Record<string, string> }> }>;
    };
    const alerts = rules.groups.flatMap((g) => g.rules).filter((r) => r.alert);
    expect(alerts.length).toBeGreaterThan(0);
    for (const alert of alerts) {
      expect(readme).toContain(`### Runbook: ${alert.alert}`);
      expect(alert.annotations?.runbook_url).toMatch(new RegExp(`README\\.md#runbook-${alert.alert!.toLowerCase()}$`));
    }
  });
});
