import { createWriteStream, type WriteStream } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { freePort } from '../../src/agent/demo/local-zookeeper.js';
import { spawnCli, type CliProcess } from '../helpers/cli.js';
import { waitUntil } from './wait.js';
import { CLUSTER, DEEP_STORE_URI, type ChaosWorld, type SimServer } from './world.js';

/**
 * The three sidecars: real `pinot-sidecar serve` processes (test/helpers/cli.ts spawnCli), one per simulated
 * server, pointed at the run's ZooKeeper and, for S3, at the fault proxy. Each process signs its S3 requests
 * with its own access key id (`chaos-s<server>-g<generation>`), so the proxy log says which process sent what.
 *
 * A process is started, SIGKILLed and started again (a new generation) by the fault injector; a process that
 * exits on its own is a crash and is recorded as such. Every JSON log line is kept in a file of the run
 * directory; the lines the report needs (repair events, warnings, errors) are also kept in memory.
 */

export interface ProcStats {
  fds: number;
  rssKiB: number;
}

export interface LogEvent {
  /** ms since epoch (the line's `time`). */
  time: number;
  level: number;
  msg: string;
  event?: string;
  table?: string;
  segment?: string;
  reason?: string;
  result?: string;
  [key: string]: unknown;
}

export class SidecarProcess {
  readonly events: LogEvent[] = [];
  /** fd count and RSS once ready after the first sync: what "back near baseline" compares with. */
  baseline: ProcStats | null = null;
  readonly samples: Array<ProcStats & { at: number }> = [];
  /** Set when the harness killed or stopped it: any other exit is a crash. */
  expectedExit = false;
  exitCode: number | null | undefined = undefined;
  exitSignal: NodeJS.Signals | null = null;
  readyAt: number | null = null;

  constructor(
    readonly server: SimServer,
    readonly generation: number,
    readonly port: number,
    readonly accessKey: string,
    readonly cli: CliProcess,
    readonly logFile: string,
  ) {}

  get pid(): number {
    return this.cli.child.pid!;
  }

  get alive(): boolean {
    return this.exitCode === undefined;
  }

  get label(): string {
    return `server-${this.server.index}#${this.generation}`;
  }

  url(pathAndQuery: string): string {
    return `http://127.0.0.1:${this.port}${pathAndQuery}`;
  }
}

export interface SidecarFleetOptions {
  world: ChaosWorld;
  runDir: string;
  sessionTimeoutMs: number;
  progress: (line: string) => void;
}

/** Log events kept in memory: the repair's own events and anything at warn or above. */
const KEEP_MSGS = new Set(['first sync done', 'shut down', 'shutting down', 'pinot-sidecar listening']);

export class SidecarFleet {
  /** The current process of each server, by server index. */
  readonly current = new Map<number, SidecarProcess>();
  /** Every process ever started, in order. */
  readonly all: SidecarProcess[] = [];
  private readonly byAccessKey = new Map<string, SidecarProcess>();
  private readonly logStreams: WriteStream[] = [];

  constructor(private readonly options: SidecarFleetOptions) {}

  /** Which process signed a request (its S3 access key id). */
  processOf(accessKey: string | null): SidecarProcess | undefined {
    return accessKey === null ? undefined : this.byAccessKey.get(accessKey);
  }

  async start(server: SimServer): Promise<SidecarProcess> {
    const { world, runDir } = this.options;
    const generation = this.all.filter((p) => p.server === server).length;
    const port = await freePort();
    const accessKey = `chaos-s${server.index}-g${generation}`;
    const args = [
      'serve',
      '--zk',
      world.zk.connectString,
      '--cluster',
      CLUSTER,
      '--instance',
      server.instance,
      '--data-dir',
      server.dataDir,
      '--deep-store',
      DEEP_STORE_URI,
      '--s3-endpoint',
      world.proxy.endpoint,
      '--s3-region',
      'us-east-1',
      '--s3-path-style',
      '--port',
      String(port),
      '--host',
      '127.0.0.1',
      '--repair-parallelism',
      '2',
      '--zk-session-timeout-ms',
      String(this.options.sessionTimeoutMs),
      '--shutdown-grace-seconds',
      '3',
      '--log-level',
      'info',
    ];
    const cli = spawnCli(args, { AWS_ACCESS_KEY_ID: accessKey, AWS_SECRET_ACCESS_KEY: 'chaos-secret' });
    const logFile = path.join(runDir, 'logs', `server-${server.index}.g${generation}.log`);
    const stream = createWriteStream(logFile);
    this.logStreams.push(stream);
    const proc = new SidecarProcess(server, generation, port, accessKey, cli, logFile);
    this.all.push(proc);
    this.current.set(server.index, proc);
    this.byAccessKey.set(accessKey, proc);
    followLines(cli, stream, (line) => {
      const event = parseLogLine(line);
      if (event && (event.event !== undefined || event.level >= 40 || KEEP_MSGS.has(event.msg)))
        proc.events.push(event);
    });
    cli.child.once('exit', (code, signal) => {
      proc.exitCode = code;
      proc.exitSignal = signal;
      if (!proc.expectedExit)
        this.options.progress(`!! ${proc.label} exited on its own (code ${code}, signal ${signal})`);
    });
    await this.waitReady(proc);
    proc.baseline = await procStats(proc.pid);
    return proc;
  }

  /** `/health/ready` answers 200 (ZooKeeper connected, first sync done); bounded. */
  async waitReady(proc: SidecarProcess, timeoutMs = 90_000): Promise<void> {
    await waitUntil(
      `${proc.label} ready`,
      async () => {
        if (!proc.alive)
          throw new Error(
            `${proc.label} exited (code ${proc.exitCode}) before it was ready:\n${proc.cli.output().slice(-3000)}`,
          );
        const res = await fetch(proc.url('/health/ready')).catch(() => null);
        await res?.body?.cancel();
        return res?.status === 200;
      },
      { timeoutMs, intervalMs: 100 },
    );
    proc.readyAt = Date.now();
  }

  /** SIGKILL, now (synchronous: callable from a proxy observer while the process's request is in flight). */
  killNow(proc: SidecarProcess): void {
    proc.expectedExit = true;
    proc.cli.child.kill('SIGKILL');
  }

  async waitExit(proc: SidecarProcess): Promise<void> {
    await proc.cli.exited;
  }

  /** A JSON endpoint of one process (null when it does not answer). */
  async getJson<T>(proc: SidecarProcess, pathAndQuery: string, init?: RequestInit): Promise<T | null> {
    try {
      const res = await fetch(proc.url(pathAndQuery), { ...init, signal: AbortSignal.timeout(10_000) });
      if (!res.ok) {
        await res.body?.cancel();
        return null;
      }
      return (await res.json()) as T;
    } catch {
      return null;
    }
  }

  async sample(): Promise<void> {
    for (const proc of this.current.values()) {
      if (!proc.alive) continue;
      const stats = await procStats(proc.pid);
      if (stats) proc.samples.push({ ...stats, at: Date.now() });
    }
  }

  /**
   * SIGTERM every live process and wait for it to exit (the sidecar's own deadline is its grace + 5 s; past
   * twice that it is killed). Resolves with what each did.
   */
  async stopAll(): Promise<
    Array<{ proc: SidecarProcess; code: number | null; signal: NodeJS.Signals | null; forced: boolean }>
  > {
    const live = [...this.current.values()].filter((p) => p.alive);
    const results = await Promise.all(
      live.map(async (proc) => {
        proc.expectedExit = true;
        proc.cli.child.kill('SIGTERM');
        let forced = false;
        const timer = setTimeout(() => {
          forced = true;
          proc.cli.child.kill('SIGKILL');
        }, 16_000);
        await proc.cli.exited;
        clearTimeout(timer);
        return { proc, code: proc.exitCode ?? null, signal: proc.exitSignal, forced };
      }),
    );
    await Promise.all(this.logStreams.map((s) => new Promise<void>((resolve) => s.end(resolve))));
    return results;
  }

  /** Last resort (exit handlers): no process left behind. */
  killAllNow(): void {
    for (const proc of this.current.values()) {
      if (proc.alive) {
        proc.expectedExit = true;
        proc.cli.child.kill('SIGKILL');
      }
    }
  }
}

export async function procStats(pid: number): Promise<ProcStats | null> {
  try {
    const [fds, status] = await Promise.all([readdir(`/proc/${pid}/fd`), readFile(`/proc/${pid}/status`, 'utf8')]);
    const rss = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return { fds: fds.length, rssKiB: rss ? Number(rss[1]) : 0 };
  } catch {
    return null;
  }
}

function followLines(cli: CliProcess, sink: WriteStream, onLine: (line: string) => void): void {
  let rest = '';
  const take = (chunk: Buffer): void => {
    sink.write(chunk);
    const text = rest + chunk.toString('utf8');
    const lines = text.split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) if (line !== '') onLine(line);
  };
  cli.child.stdout?.on('data', take);
  cli.child.stderr?.on('data', (chunk: Buffer) => sink.write(chunk));
}

function parseLogLine(line: string): LogEvent | null {
  if (!line.startsWith('{')) return null;
  try {
    const raw = JSON.parse(line) as Record<string, unknown>;
    const time =
      typeof raw.time === 'string' ? Date.parse(raw.time) : typeof raw.time === 'number' ? raw.time : Date.now();
    return { ...raw, time, level: Number(raw.level ?? 30), msg: String(raw.msg ?? '') };
  } catch {
    return null;
  }
}
