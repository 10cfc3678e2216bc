import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { populatedMetrics } from '../helpers/populated-metrics.js';
import { repoRoot } from '../helpers/fixtures.js';

/**
 * Readers for the deployment files under docker/ (structure, never string matching on YAML/JSON), and the
 * catalogue of what /metrics really exposes, for checking every PromQL reference against it.
 */
export const dockerDir = path.join(repoRoot, 'docker');

export function dockerPath(...parts: string[]): string {
  return path.join(dockerDir, ...parts);
}

export function readText(file: string): string {
  return readFileSync(file, 'utf8');
}

/** One YAML document; `<<` merge keys resolved as docker compose does. */
export function readYaml<T = unknown>(file: string): T {
  return parse(readText(file), { merge: true }) as T;
}

/** Every document of a multi-document YAML file; a syntax error in any of them throws. */
export function readYamlDocuments(file: string): unknown[] {
  return parseAllDocuments(readText(file), { merge: true }).map((doc) => {
    const [error] = doc.errors;
    if (error !== undefined) throw error;
    return doc.toJS() as unknown;
  });
}

export function readJson<T = unknown>(file: string): T {
  return JSON.parse(readText(file)) as T;
}

/** Java .properties as Pinot reads its config files: `key=value`, `#` comments, no continuations used here. */
export function parseProperties(text: string): Map<string, string> {
  const props = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith('!')) continue;
    const eq = line.indexOf('=');
    if (eq < 0) throw new Error(`not a key=value line: ${line}`);
    props.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim());
  }
  return props;
}

export function prop(props: Map<string, string>, key: string): string {
  const value = props.get(key);
  if (value === undefined) throw new Error(`missing property ${key}`);
  return value;
}

export type Obj = Record<string, unknown>;

export function isObj(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Property access that fails with the path when something is missing, for readable test failures. */
export function at(value: unknown, ...keys: Array<string | number>): unknown {
  let cur = value;
  const walked: string[] = [];
  for (const key of keys) {
    walked.push(String(key));
    if (typeof key === 'number' ? !Array.isArray(cur) : !isObj(cur)) throw new Error(`no ${walked.join('.')}`);
    cur = (cur as Record<string | number, unknown>)[key];
    if (cur === undefined) throw new Error(`no ${walked.join('.')}`);
  }
  return cur;
}

export function objAt(value: unknown, ...keys: Array<string | number>): Obj {
  const v = at(value, ...keys);
  if (!isObj(v)) throw new Error(`${keys.join('.')} is not a mapping`);
  return v;
}

export function listAt(value: unknown, ...keys: Array<string | number>): unknown[] {
  const v = at(value, ...keys);
  if (!Array.isArray(v)) throw new Error(`${keys.join('.')} is not a list`);
  return v;
}

/** A Kubernetes container's env list as name -> value (valueFrom entries map to undefined). */
export function containerEnv(container: Obj): Map<string, string | undefined> {
  const env = new Map<string, string | undefined>();
  for (const entry of (container.env as Obj[] | undefined) ?? [])
    env.set(String(entry.name), entry.value === undefined ? undefined : String(entry.value));
  return env;
}

// ---------------------------------------------------------------------------------------------------------
// Dockerfile
// ---------------------------------------------------------------------------------------------------------

export interface DockerInstruction {
  keyword: string;
  args: string;
}

export interface DockerStage {
  from: string;
  name: string | undefined;
  instructions: DockerInstruction[];
}

/**
 * Instructions of a Dockerfile grouped by stage: comment lines dropped (BuildKit drops them inside
 * continuations too), backslash continuations joined. ARGs before the first FROM are returned separately.
 */
export function parseDockerfile(text: string): { globalArgs: Map<string, string>; stages: DockerStage[] } {
  const logical: string[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    if (/^\s*#/.test(raw)) continue;
    const line = raw.replace(/\s+$/, '');
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    const full = (pending + line).trim();
    pending = '';
    if (full !== '') logical.push(full);
  }
  const globalArgs = new Map<string, string>();
  const stages: DockerStage[] = [];
  for (const line of logical) {
    const match = /^(\S+)\s*(.*)$/.exec(line)!;
    const keyword = match[1]!.toUpperCase();
    const args = match[2]!.replace(/\s+/g, ' ').trim();
    if (keyword === 'FROM') {
      const from = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args)!;
      stages.push({ from: from[1]!, name: from[2], instructions: [] });
    } else if (stages.length === 0) {
      if (keyword !== 'ARG') throw new Error(`${keyword} before the first FROM`);
      const [name, value = ''] = args.split('=', 2);
      globalArgs.set(name!, value);
    } else {
      stages.at(-1)!.instructions.push({ keyword, args });
    }
  }
  return { globalArgs, stages };
}

/** `${NAME}` / `$NAME` replaced from the global ARGs (what FROM lines may use). */
export function expandArgs(text: string, args: Map<string, string>): string {
  return text.replace(/\$\{(\w+)\}|\$(\w+)/g, (_m, a: string | undefined, b: string | undefined) => {
    const name = (a ?? b)!;
    const value = args.get(name);
    if (value === undefined) throw new Error(`undefined ARG ${name}`);
    return value;
  });
}

// ---------------------------------------------------------------------------------------------------------
// What /metrics exposes
// ---------------------------------------------------------------------------------------------------------

export interface MetricCatalog {
  /** Family name (as in `# TYPE`) -> type. */
  families: Map<string, string>;
  /** Sample name (family, or family_bucket/_sum/_count for histograms) -> the label sets exposed. */
  samples: Map<string, Array<Record<string, string>>>;
}

/** The sidecar's real exposition (test/helpers/populated-metrics.ts), parsed. */
export async function sidecarMetricCatalog(): Promise<MetricCatalog> {
  return parseExposition(await populatedMetrics().registry.metrics());
}

export function parseExposition(text: string): MetricCatalog {
  const families = new Map<string, string>();
  const samples = new Map<string, Array<Record<string, string>>>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) {
      families.set(type[1]!, type[2]!);
      continue;
    }
    if (line === '' || line.startsWith('#')) continue;
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? \S+$/.exec(line);
    if (!sample) throw new Error(`unparsable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const m of (sample[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[m[1]!] = m[2]!;
    const list = samples.get(sample[1]!) ?? [];
    list.push(labels);
    samples.set(sample[1]!, list);
  }
  return { families, samples };
}

const HISTOGRAM_SUFFIXES = ['_bucket', '_sum', '_count'] as const;

/** Labels Prometheus adds at scrape time (target labels), never part of the exposition. */
export const TARGET_LABELS = new Set(['instance', 'job', 'namespace', 'pod', 'service', 'container', 'endpoint']);

export interface MetricReference {
  source: string;
  expr: string;
  name: string;
  matchers: Array<{ label: string; op: string; value: string }>;
}

/** Every `pinot_sidecar_*` selector in a PromQL expression (or a Grafana label_values() query). */
export function metricReferences(source: string, expr: string): MetricReference[] {
  const refs: MetricReference[] = [];
  for (const m of expr.matchAll(/\b(pinot_sidecar_[A-Za-z0-9_]+)\b(\{([^}]*)\})?/g)) {
    const matchers = [...(m[3] ?? '').matchAll(/([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g)].map(
      (x) => ({ label: x[1]!, op: x[2]!, value: x[3]! }),
    );
    refs.push({ source, expr, name: m[1]!, matchers });
  }
  return refs;
}

/**
 * Problems with one reference, or [] if it names a series the sidecar exposes: a gauge/counter family by its
 * name, a histogram only through its _bucket/_sum/_count series (the bare histogram name selects nothing), label
 * names the series carries (or target labels), and `=` values that some exposed sample has.
 */
export function checkReference(ref: MetricReference, catalog: MetricCatalog): string[] {
  const where = `${ref.source}: ${ref.name} in \`${ref.expr}\``;
  const type = catalog.families.get(ref.name);
  const histogramBase = HISTOGRAM_SUFFIXES.map((s) =>
    ref.name.endsWith(s) ? ref.name.slice(0, -s.length) : undefined,
  ).find((b) => b !== undefined && catalog.families.get(b) === 'histogram');
  if (type === 'histogram') return [`${where}: a histogram has no series of that name; use _bucket, _sum or _count`];
  if (type === undefined && histogramBase === undefined) return [`${where}: no such metric in /metrics`];
  const exposed = catalog.samples.get(ref.name) ?? [];
  if (exposed.length === 0) return [`${where}: declared but no sample exposed`];
  const problems: string[] = [];
  const labelNames = new Set(exposed.flatMap((s) => Object.keys(s)));
  for (const matcher of ref.matchers) {
    if (!labelNames.has(matcher.label) && !TARGET_LABELS.has(matcher.label))
      problems.push(`${where}: no label "${matcher.label}" (has ${[...labelNames].join(', ') || 'none'})`);
    else if (
      matcher.op === '=' &&
      !matcher.value.includes('$') &&
      !TARGET_LABELS.has(matcher.label) &&
      !exposed.some((s) => s[matcher.label] === matcher.value)
    ) {
      problems.push(`${where}: no sample with ${matcher.label}="${matcher.value}"`);
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------------------
// promtool (Debian's prometheus package; CI installs it)
// ---------------------------------------------------------------------------------------------------------

export const PROMTOOL = '/usr/bin/promtool';
export const hasPromtool = existsSync(PROMTOOL);

export function promtool(args: string[], cwd = repoRoot): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(PROMTOOL, args, { cwd, timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
      resolve({ code, output: `${stdout}${stderr}` });
    });
  });
}

export { repoRoot };
