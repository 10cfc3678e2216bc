import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import type { CommandIo } from '../cli.js';
import type { DrainCheckBody } from '../http/drain-routes.js';
import { describeRequestFailure } from './status.js';

const HELP = `Usage: pinot-sidecar drain-check [--url URL] [--json] [--wait SECONDS] [--domain ZONE] [--token-file FILE]

Is it safe to take this sidecar's server down? Asks GET <url>/drain/check: for every segment the server hosts,
is there a deep-store copy or an ONLINE replica on a server outside its failure domain? CONSUMING segments are
listed apart (they are consumed again, not lost).
Exit code 0 safe, 1 unsafe (the at-risk segments are listed, each with why), 2 cannot tell (ZooKeeper away, the
sidecar not synced or not reachable: never "safe" when unsure).

  --url         sidecar base URL (PINOT_SIDECAR_URL, default http://127.0.0.1:9700)
  --json        print the raw JSON
  --wait        poll until safe, for at most this many seconds (then the last answer's exit code)
  --interval    seconds between polls with --wait (default 2)
  --domain      assess the loss of this whole failure domain (zone) instead of the server's own
  --token-file  bearer token file when the sidecar requires one (PINOT_SIDECAR_TOKEN_FILE)`;

const EXIT: Record<DrainCheckBody['verdict'], number> = { safe: 0, unsafe: 1, cannot_tell: 2 };

export async function runDrainCheck(args: string[], io: CommandIo): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      url: { type: 'string' },
      json: { type: 'boolean', default: false },
      wait: { type: 'string' },
      interval: { type: 'string', default: '2' },
      domain: { type: 'string' },
      'token-file': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    io.stdout(`${HELP}\n`);
    return 0;
  }
  const waitS = values.wait === undefined ? 0 : Number(values.wait);
  const intervalS = Number(values.interval);
  if (!Number.isFinite(waitS) || waitS < 0 || !Number.isFinite(intervalS) || intervalS <= 0) {
    io.stderr('pinot-sidecar drain-check: --wait must be a number of seconds >= 0, --interval > 0\n');
    return 2;
  }
  const base = (values.url ?? io.env.PINOT_SIDECAR_URL ?? 'http://127.0.0.1:9700').replace(/\/+$/, '');
  const url = `${base}/drain/check${values.domain === undefined ? '' : `?domain=${encodeURIComponent(values.domain)}`}`;
  const tokenFile = values['token-file'] ?? io.env.PINOT_SIDECAR_TOKEN_FILE;
  const headers: Record<string, string> = {};
  if (tokenFile) headers.Authorization = `Bearer ${(await readFile(tokenFile, 'utf8')).trim()}`;

  const deadline = Date.now() + waitS * 1000;
  for (;;) {
    const answer = await ask(url, headers);
    const done = answer.kind === 'report' && answer.body.verdict === 'safe';
    if (done || Date.now() + intervalS * 1000 > deadline) {
      if (answer.kind === 'failed') {
        io.stderr(`pinot-sidecar drain-check: ${answer.message}\n`);
        return 2;
      }
      io.stdout(values.json ? `${JSON.stringify(answer.body, null, 2)}\n` : formatDrainCheck(answer.body));
      return EXIT[answer.body.verdict];
    }
    if (!values.json) io.stderr(`${waitLine(answer)}; asking again in ${intervalS} s\n`);
    await new Promise((resolve) => setTimeout(resolve, intervalS * 1000));
  }
}

type Answer = { kind: 'report'; body: DrainCheckBody } | { kind: 'failed'; message: string };

async function ask(url: string, headers: Record<string, string>): Promise<Answer> {
  try {
    const res = await fetch(url, { headers, signal: AbortSignal.timeout(30_000) });
    const text = await res.text();
    if (res.status !== 200) return { kind: 'failed', message: `${url} answered ${res.status}: ${text.slice(0, 500)}` };
    return { kind: 'report', body: JSON.parse(text) as DrainCheckBody };
  } catch (err) {
    return { kind: 'failed', message: `${url}: ${describeRequestFailure(err)}` };
  }
}

function waitLine(answer: Answer): string {
  if (answer.kind === 'failed') return `not answered (${answer.message})`;
  const b = answer.body;
  return b.verdict === 'unsafe'
    ? `unsafe: ${b.counts.atRisk} segment(s) at risk`
    : `cannot tell: ${b.reasons.join('; ')}`;
}

/** Pure: what an operator reads. */
export function formatDrainCheck(b: DrainCheckBody): string {
  const domain = b.domain ? `${b.domain.id} (from ${b.domain.source})` : 'unknown';
  const scope =
    b.scope === 'server' ? `${b.instance}, domain ${domain}` : `domain ${b.drainedDomain} (asked of ${b.instance})`;
  const head = { safe: 'SAFE', unsafe: 'UNSAFE', cannot_tell: 'CANNOT TELL' }[b.verdict];
  const lines = [`${head} to take down ${scope}`];
  for (const reason of b.reasons) lines.push(`  cannot tell: ${reason}`);
  for (const warning of b.warnings) lines.push(`  warning:     ${warning}`);
  const c = b.counts;
  if (b.verdict !== 'cannot_tell' || c.hosted > 0)
    lines.push(
      `  ${c.hosted} hosted: ${c.withDeepStoreCopy} with a deep-store copy, ` +
        `${c.replicaOutsideDomain} with a replica outside ${b.drainedDomain}, ${c.atRisk} at risk, ` +
        `${c.unknown} unknown, ${c.consuming} consuming (re-consumed, not lost)`,
    );
  const repairs = new Map((b.preparation?.segments ?? []).map((s) => [`${s.table}/${s.segment}`, s.repair]));
  if (b.atRisk.length > 0) {
    lines.push('', 'AT RISK (table, segment, reason, repair, detail):');
    for (const r of b.atRisk) {
      const repair = repairs.get(`${r.table}/${r.segment}`);
      lines.push(`  ${r.table}  ${r.segment}  ${r.reason}  ${repair ? repair.state : '-'}  ${r.detail}`);
    }
  }
  for (const u of b.unknown) lines.push(`  unknown: ${u.table} ${u.segment}: ${u.detail}`);
  if (b.consuming.length > 0) lines.push('', `CONSUMING: ${b.consuming.map((s) => s.segment).join(', ')}`);
  if (b.verdict === 'unsafe') lines.push('', 'POST /drain/prepare repairs the at-risk segments first.');
  return `${lines.join('\n')}\n`;
}
