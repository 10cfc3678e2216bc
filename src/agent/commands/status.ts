import { readFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { parseArgs } from 'node:util';
import type { CommandIo } from '../cli.js';
import { clientTlsProblems, readClientTls, type ClientTls } from '../client-tls.js';
import { ConfigError } from '../config.js';

const HELP = `Usage: pinot-sidecar status [--url URL] [--json] [--token-file FILE] [--ca-file F]
                             [--client-cert-file F --client-key-file F]

Shows whether the sidecar is ready and what is wrong (GET <url>/health/ready: reasons and warnings),
then its deep-store repair state (GET <url>/repair/status) as a table: table, segment, state,
attempts, next retry, last error, and a one-line summary. Exit code 1 when the sidecar is not ready
or any segment is "failed" (both need an operator), 2 when the sidecar cannot be asked, 0 otherwise.

  --url         sidecar base URL (PINOT_SIDECAR_URL, default http://127.0.0.1:9700)
  --json        print the raw JSON
  --token-file  bearer token file when the sidecar requires one (PINOT_SIDECAR_TOKEN_FILE); the download
                token is enough (status only reads)
  --ca-file     PEM CA of the sidecar's certificate, for an https:// --url (PINOT_SIDECAR_CA_FILE)
  --client-cert-file, --client-key-file
                PEM client pair when the sidecar requires mutual TLS (PINOT_SIDECAR_CLIENT_CERT_FILE,
                PINOT_SIDECAR_CLIENT_KEY_FILE)`;

export interface RepairStatusEntry {
  table: string;
  segment: string;
  state: string;
  reason?: string | null;
  attempts?: number;
  lastError?: string | null;
  nextAttemptAt?: string | null;
  uri?: string | null;
  updatedAt?: string | null;
}

export interface RepairStatusBody {
  segments: RepairStatusEntry[];
  totals: Record<string, number>;
  /** The deep store's last probe; null or absent when it is not probed. */
  deepStore?: {
    state: string;
    mode: string;
    checkedAt: string | null;
    since: string | null;
    cause: { message: string } | null;
    warning: { message: string } | null;
  } | null;
}

export async function runStatus(args: string[], io: CommandIo): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      url: { type: 'string' },
      json: { type: 'boolean', default: false },
      'token-file': { type: 'string' },
      'ca-file': { type: 'string' },
      'client-cert-file': { type: 'string' },
      'client-key-file': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    io.stdout(`${HELP}\n`);
    return 0;
  }
  const base = (values.url ?? io.env.PINOT_SIDECAR_URL ?? 'http://127.0.0.1:9700').replace(/\/+$/, '');
  const tokenFile = values['token-file'] ?? io.env.PINOT_SIDECAR_TOKEN_FILE;
  const headers: Record<string, string> = {};
  if (tokenFile) headers.Authorization = `Bearer ${(await readFile(tokenFile, 'utf8')).trim()}`;
  const tlsFiles = {
    caFile: values['ca-file'] ?? nonEmpty(io.env.PINOT_SIDECAR_CA_FILE),
    clientCertFile: values['client-cert-file'] ?? nonEmpty(io.env.PINOT_SIDECAR_CLIENT_CERT_FILE),
    clientKeyFile: values['client-key-file'] ?? nonEmpty(io.env.PINOT_SIDECAR_CLIENT_KEY_FILE),
  };
  let tls: ClientTls;
  try {
    const problems = clientTlsProblems(tlsFiles);
    if (problems.length > 0) throw new ConfigError(problems);
    tls = await readClientTls(tlsFiles);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    io.stderr(`pinot-sidecar status: ${err.problems.join('; ')}\n`);
    return 2;
  }
  let health: HealthBody;
  let body: RepairStatusBody;
  try {
    health = await getJson<HealthBody>(`${base}/health/ready`, headers, [200, 503], tls);
    body = await getJson<RepairStatusBody>(`${base}/repair/status`, headers, [200], tls);
  } catch (err) {
    io.stderr(
      `pinot-sidecar status: ${err instanceof StatusRequestError ? err.message : `${base}: ${describeRequestFailure(err)}`}\n`,
    );
    return 2;
  }
  if (values.json) io.stdout(`${JSON.stringify({ health, ...body }, null, 2)}\n`);
  else io.stdout(`${formatHealth(health)}${formatDeepStore(body.deepStore)}\n${formatStatus(body)}\n`);
  const ready = health.status === 'ready';
  return !ready || body.segments.some((s) => s.state === 'failed') ? 1 : 0;
}

export interface HealthBody {
  status: string;
  reasons?: string[];
  warnings?: string[];
}

/** Pure: the readiness lines at the top of `status`. */
export function formatHealth(health: HealthBody): string {
  const lines = [health.status === 'ready' ? 'READY' : 'NOT READY'];
  for (const reason of health.reasons ?? []) lines.push(`  not ready: ${reason}`);
  for (const warning of health.warnings ?? []) lines.push(`  warning:   ${warning}`);
  return `${lines.join('\n')}\n`;
}

/** Pure: the deep store's probe in one line (two with a warning); nothing when it is not probed. */
export function formatDeepStore(probe: RepairStatusBody['deepStore']): string {
  if (!probe) return '';
  const lines =
    probe.state === 'down'
      ? [`deep store: DOWN since ${probe.since ?? '?'}: ${probe.cause?.message ?? 'unknown cause'}`]
      : [`deep store: ${probe.state} (${probe.mode} probe${probe.checkedAt ? `, checked ${probe.checkedAt}` : ''})`];
  if (probe.warning) lines.push(`  warning:   ${probe.warning.message}`);
  return `${lines.join('\n')}\n`;
}

/** The sidecar answered, but not as expected (a status code that is not one of those asked for). */
class StatusRequestError extends Error {}

function nonEmpty(v: string | undefined): string | undefined {
  return v === '' ? undefined : v;
}

/** GET over node:http(s) (not fetch(): its TLS options cannot take a CA or a client pair without undici). */
async function getJson<T>(url: string, headers: Record<string, string>, ok: number[], tls: ClientTls): Promise<T> {
  const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const secure = url.startsWith('https:');
    const req = (secure ? https : http).request(url, {
      headers,
      agent: false,
      signal: AbortSignal.timeout(10_000),
      ...(secure ? tls : {}),
    });
    req.on('response', (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (data += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: data }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
  if (!ok.includes(status)) throw new StatusRequestError(`${url} answered ${status}: ${text.slice(0, 500)}`);
  return JSON.parse(text) as T;
}

/**
 * What went wrong reaching the sidecar, as an operator reads it. fetch() says only "fetch failed"; the socket's
 * own error (ECONNREFUSED with address and port, ENOTFOUND with the host) is its cause.
 */
export function describeRequestFailure(err: unknown): string {
  let e: unknown = err;
  for (let depth = 0; depth < 5 && e instanceof Error; depth++) {
    const { code, address, port, hostname } = e as NodeJS.ErrnoException & {
      address?: string;
      port?: number;
      hostname?: string;
    };
    const where = address !== undefined ? `${address}${port === undefined ? '' : `:${port}`}` : hostname;
    if (code === 'ECONNREFUSED')
      return `connection refused by ${where ?? 'the sidecar'} (is the sidecar running? is --url right?)`;
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN')
      return `cannot resolve ${hostname ?? where ?? 'the host'} (is --url right?)`;
    if (code === 'ECONNRESET') return `connection reset by ${where ?? 'the sidecar'}`;
    if (e.name === 'TimeoutError') return 'no answer within 10 s';
    e = e.cause;
  }
  return err instanceof Error ? err.message : String(err);
}

/** Pure: the status table an operator reads. */
export function formatStatus(body: RepairStatusBody): string {
  const header = ['TABLE', 'SEGMENT', 'STATE', 'ATTEMPTS', 'NEXT RETRY', 'LAST ERROR / REASON'];
  const rows = body.segments.map((s) => [
    s.table,
    s.segment,
    s.state,
    String(s.attempts ?? 0),
    s.nextAttemptAt ?? '-',
    oneLine(s.lastError ?? s.reason ?? (s.uri ? `-> ${s.uri}` : '-')),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const totals = Object.entries(body.totals)
    .filter(([, n]) => n > 0)
    .map(([state, n]) => `${n} ${state}`)
    .join(', ');
  const summary = `${body.segments.length} segment${body.segments.length === 1 ? '' : 's'} tracked${totals ? `: ${totals}` : ''}`;
  return rows.length === 0 ? summary : [line(header), ...rows.map(line), '', summary].join('\n');
}

function oneLine(s: string): string {
  const flat = s.replace(/\s+/g, ' ');
  return flat.length > 120 ? `${flat.slice(0, 117)}...` : flat;
}
