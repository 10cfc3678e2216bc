import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import type { CommandIo } from '../cli.js';

const HELP = `Usage: pinot-sidecar status [--url URL] [--json] [--token-file FILE]

Shows the sidecar's deep-store repair state (GET <url>/repair/status) as a table: table, segment,
state, attempts, next retry, last error, and a one-line summary. Exit code 1 when any segment is
"failed" (needs an operator), 2 when the sidecar cannot be asked, 0 otherwise.

  --url         sidecar base URL (PINOT_SIDECAR_URL, default http://127.0.0.1:9700)
  --json        print the raw JSON
  --token-file  bearer token file when the sidecar requires one (PINOT_SIDECAR_TOKEN_FILE)`;

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
}

export async function runStatus(args: string[], io: CommandIo): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { url: { type: 'string' }, json: { type: 'boolean', default: false }, 'token-file': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
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
  let body: RepairStatusBody;
  try {
    const res = await fetch(`${base}/repair/status`, { headers, signal: AbortSignal.timeout(10_000) });
    const text = await res.text();
    if (!res.ok) {
      io.stderr(`pinot-sidecar status: ${base}/repair/status answered ${res.status}: ${text.slice(0, 500)}\n`);
      return 2;
    }
    body = JSON.parse(text) as RepairStatusBody;
  } catch (err) {
    io.stderr(`pinot-sidecar status: cannot reach ${base}: ${(err as Error).message}\n`);
    return 2;
  }
  if (values.json) io.stdout(`${JSON.stringify(body, null, 2)}\n`);
  else io.stdout(`${formatStatus(body)}\n`);
  return body.segments.some((s) => s.state === 'failed') ? 1 : 0;
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
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
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
