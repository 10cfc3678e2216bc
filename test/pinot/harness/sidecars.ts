import { createWriteStream, type WriteStream } from 'node:fs';
import path from 'node:path';
import { freePort } from '../../helpers/zookeeper-server.js';
import { spawnCli, type CliProcess } from '../../helpers/cli.js';
import { waitUntil } from '../../chaos/wait.js';
import { CLUSTER_NAME, type PinotServer, type RealPinotCluster } from './cluster.js';
import { forget, remember } from './leftovers.js';

/**
 * One real `pinot-sidecar serve` process per Pinot server (test/helpers/cli.ts spawnCli): --instance the server's
 * Helix instance id, --data-dir its dataDir, --deep-store the controller's controller.data.dir. A server's sidecar
 * can be stopped (SIGTERM), killed (SIGKILL) and started again; every process's log is kept in the run dir and
 * its JSON repair events in memory.
 */
export interface RepairEvent {
  event: string;
  table?: string;
  segment?: string;
  uri?: string;
  result?: string;
  reason?: string;
  time: number;
}

/** The shortest session timeout ZooKeeper grants here: a SIGKILLed sidecar's upload lock is freed soon. */
const SESSION_TIMEOUT_MS = 6_000;

export class SidecarProcess {
  readonly events: RepairEvent[] = [];
  exitCode: number | null | undefined = undefined;

  constructor(
    readonly server: PinotServer,
    readonly generation: number,
    readonly port: number,
    readonly cli: CliProcess,
  ) {
    cli.child.once('exit', (code) => {
      this.exitCode = code;
      if (cli.child.pid !== undefined) forget('pid', cli.child.pid);
    });
  }

  get pid(): number {
    return this.cli.child.pid!;
  }

  get label(): string {
    return `sidecar-${this.server.index}#${this.generation}`;
  }

  get alive(): boolean {
    return this.exitCode === undefined;
  }

  url(pathAndQuery: string): string {
    return `http://127.0.0.1:${this.port}${pathAndQuery}`;
  }

  async json<T>(pathAndQuery: string, init: RequestInit = {}): Promise<T> {
    const res = await fetch(this.url(pathAndQuery), { ...init, signal: AbortSignal.timeout(60_000) });
    if (!res.ok) throw new Error(`${this.label} ${pathAndQuery}: ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  }

  /** The value of one Prometheus series (`name{labels}` exactly as exposed), or null. */
  async metric(series: string): Promise<number | null> {
    const res = await fetch(this.url('/metrics'), { signal: AbortSignal.timeout(10_000) });
    const text = await res.text();
    const line = text.split('\n').find((l) => l.startsWith(`${series} `));
    return line === undefined ? null : Number(line.slice(series.length + 1));
  }
}

export class SidecarFleet {
  /** Every process started, in order; `current` is the newest of each server. */
  readonly all: SidecarProcess[] = [];
  readonly current = new Map<number, SidecarProcess>();
  private readonly logs: WriteStream[] = [];

  constructor(
    private readonly cluster: RealPinotCluster,
    private readonly runDir: string,
  ) {}

  async start(server: PinotServer): Promise<SidecarProcess> {
    const generation = this.all.filter((p) => p.server === server).length;
    const port = await freePort();
    const cli = spawnCli([
      'serve',
      '--zk',
      this.cluster.zkAddress,
      '--cluster',
      CLUSTER_NAME,
      '--instance',
      server.instance,
      '--data-dir',
      server.dataDir,
      '--deep-store',
      this.cluster.deepStoreUri,
      '--port',
      String(port),
      '--host',
      '127.0.0.1',
      '--zk-session-timeout-ms',
      String(SESSION_TIMEOUT_MS),
      '--shutdown-grace-seconds',
      '3',
    ]);
    if (cli.child.pid !== undefined) remember('pid', cli.child.pid);
    const proc = new SidecarProcess(server, generation, port, cli);
    this.all.push(proc);
    this.current.set(server.index, proc);
    const log = createWriteStream(path.join(this.runDir, 'logs', `${proc.label}.log`));
    this.logs.push(log);
    let partial = '';
    const onData = (chunk: Buffer): void => {
      log.write(chunk);
      partial += chunk.toString();
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.startsWith('{')) continue;
        try {
          const parsed = JSON.parse(line) as RepairEvent;
          if (typeof parsed.event === 'string') proc.events.push(parsed);
        } catch {
          // not a log line of ours
        }
      }
    };
    cli.child.stdout?.on('data', onData);
    cli.child.stderr?.on('data', onData);
    await waitUntil(
      `${proc.label} ready`,
      async () => {
        if (!proc.alive)
          throw new Error(`${proc.label} exited (${proc.exitCode}) before it was ready:\n${cli.output().slice(-3000)}`);
        const res = await fetch(proc.url('/health/ready')).catch(() => null);
        await res?.body?.cancel();
        return res?.status === 200;
      },
      { timeoutMs: 90_000, intervalMs: 100 },
    );
    return proc;
  }

  /**
   * SIGTERM; resolves with how it ended: the exit code, or the signal that ended it (the sidecar's own deadline is
   * its grace + 5 s; past 20 s it is SIGKILLed).
   */
  async stop(proc: SidecarProcess): Promise<string> {
    if (proc.alive) {
      proc.cli.child.kill('SIGTERM');
      const timer = setTimeout(() => proc.cli.child.kill('SIGKILL'), 20_000);
      await proc.cli.exited;
      clearTimeout(timer);
    }
    return proc.cli.child.signalCode ?? String(proc.cli.child.exitCode);
  }

  killNow(proc: SidecarProcess): void {
    proc.cli.child.kill('SIGKILL');
  }

  async stopAll(): Promise<string[]> {
    const codes = await Promise.all([...this.current.values()].map((p) => this.stop(p)));
    await Promise.all(this.logs.map((l) => new Promise((resolve) => l.end(resolve))));
    return codes;
  }

  /** Repair events of one kind over every process, optionally for one segment. */
  eventsOf(kind: string, segment?: string): Array<RepairEvent & { proc: SidecarProcess }> {
    return this.all.flatMap((proc) =>
      proc.events
        .filter((e) => e.event === kind && (segment === undefined || e.segment === segment))
        .map((e) => ({ ...e, proc })),
    );
  }
}
