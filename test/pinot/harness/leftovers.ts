import { appendFileSync, existsSync, readFileSync, rmSync } from 'node:fs';

/**
 * Everything the suite starts or creates, written down the moment it exists, so that nothing outlives a run:
 * the suite stops things in order when it ends, and whatever is still listed is killed and removed by
 *
 * - this process's own `exit` handler (a test file that throws, a worker that is torn down), and
 * - the runner (test/pinot/run.ts) after vitest has exited for any reason, Ctrl-C included, from the ledger file
 *   named by PINOT_SUITE_LEDGER (a worker killed with SIGKILL runs no handler of its own).
 *
 * A line is `group <pgid>` (a process group: every Java service is started as its own group leader), `pid <pid>`,
 * `dir <path>` (removed recursively), or `done <kind> <value>` (already stopped or removed).
 */
export const LEDGER_ENV = 'PINOT_SUITE_LEDGER';

type Kind = 'group' | 'pid' | 'dir';
const live = new Map<string, { kind: Kind; value: string }>();

function write(line: string): void {
  const file = process.env[LEDGER_ENV];
  if (file) appendFileSync(file, `${line}\n`);
}

export function remember(kind: Kind, value: string | number): void {
  live.set(`${kind} ${value}`, { kind, value: String(value) });
  write(`${kind} ${value}`);
}

export function forget(kind: Kind, value: string | number): void {
  live.delete(`${kind} ${value}`);
  write(`done ${kind} ${value}`);
}

/** SIGKILL every listed process (groups first), then remove every listed directory. Synchronous: usable on exit. */
export function cleanUpNow(entries: Iterable<{ kind: Kind; value: string }>): void {
  const list = [...entries];
  for (const { kind, value } of list) {
    if (kind === 'dir') continue;
    try {
      process.kill(kind === 'group' ? -Number(value) : Number(value), 'SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const { kind, value } of list) if (kind === 'dir') rmSync(value, { recursive: true, force: true });
}

/** What a ledger file still lists (entries without a later `done`). */
export function readLedger(file: string): Array<{ kind: Kind; value: string }> {
  if (!existsSync(file)) return [];
  const open = new Map<string, { kind: Kind; value: string }>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const [word, kind, value] = line.split(' ', 3);
    if (word === 'done' && kind && value !== undefined) open.delete(`${kind} ${value}`);
    else if ((word === 'group' || word === 'pid' || word === 'dir') && kind !== undefined) {
      const rest = line.slice(word.length + 1);
      open.set(`${word} ${rest}`, { kind: word, value: rest });
    }
  }
  return [...open.values()];
}

process.once('exit', () => cleanUpNow(live.values()));
