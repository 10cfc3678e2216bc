import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const ZOOKEEPER_JAR = '/usr/share/java/zookeeper.jar';
const ZK_JAR = ZOOKEEPER_JAR;
const SLF4J_NOP = '/usr/share/java/slf4j-nop.jar';

export const ZOOKEEPER_MISSING =
  'ZooKeeper is not installed: run `apt-get install zookeeper` (Debian package, provides /usr/share/java/zookeeper.jar)';

export interface ZooKeeperServerOptions {
  /** ZooKeeper tick; the minimum session timeout is 2 ticks. Small ticks make expiry tests fast. */
  tickTimeMs?: number;
  /** Where the config and data go (default: a new temp dir). */
  dir?: string;
}

/**
 * Debian's real ZooKeeper 3.8, standalone, on a free loopback port with its own data dir: the demo's
 * local cluster and the tests' (never a mock: the sidecar's correctness under expiry and restarts is
 * only meaningful against the real server). Started with `java -cp zookeeper.jar:slf4j-nop.jar
 * org.apache.zookeeper.server.ZooKeeperServerMain <zoo.cfg>`.
 */
export class ZooKeeperServer {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();

  private constructor(
    readonly dir: string,
    readonly port: number,
    private readonly options: { tickTimeMs: number },
  ) {}

  static async start(options: ZooKeeperServerOptions = {}): Promise<ZooKeeperServer> {
    if (!existsSync(ZK_JAR)) throw new Error(ZOOKEEPER_MISSING);
    const dir = options.dir ?? (await mkdtemp(path.join(tmpdir(), 'pinot-sidecar-zk-')));
    const server = new ZooKeeperServer(dir, await freePort(), { tickTimeMs: options.tickTimeMs ?? 250 });
    await server.launch();
    return server;
  }

  get connectString(): string {
    return `127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  private async launch(): Promise<void> {
    await mkdir(path.join(this.dir, 'data'), { recursive: true });
    const cfg = path.join(this.dir, 'zoo.cfg');
    await writeFile(
      cfg,
      [
        `tickTime=${this.options.tickTimeMs}`,
        `dataDir=${path.join(this.dir, 'data')}`,
        `clientPort=${this.port}`,
        'clientPortAddress=127.0.0.1',
        'admin.enableServer=false',
        '4lw.commands.whitelist=ruok,srvr,stat,mntr',
        'maxClientCnxns=0',
        `minSessionTimeout=${2 * this.options.tickTimeMs}`,
        'maxSessionTimeout=120000',
        // The benchmark creates tens of thousands of nodes; no snapshots mid-run keeps it quiet.
        'snapCount=1000000',
        'forceSync=no',
        '',
      ].join('\n'),
    );
    const child = spawn(
      'java',
      [
        '-Xmx512m',
        '-XX:+UseSerialGC',
        '-cp',
        `${ZK_JAR}:${SLF4J_NOP}`,
        'org.apache.zookeeper.server.ZooKeeperServerMain',
        cfg,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'], detached: false },
    );
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    const deadline = Date.now() + 30_000;
    while (!(await ruok(this.port))) {
      if (child.exitCode !== null) throw new Error(`ZooKeeper exited with ${child.exitCode}: ${stderr}`);
      if (Date.now() > deadline)
        throw new Error(`ZooKeeper did not answer ruok on ${this.port} within 30 s: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Stop the process (SIGTERM, then SIGKILL); the data dir stays so that restart() keeps the tree. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    if (this.paused) this.resume();
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await this.exited;
    clearTimeout(timer);
    this.child = undefined;
  }

  /** Stop and start again on the same port and data dir: sessions and znodes survive, as in production. */
  async restart(): Promise<void> {
    await this.stop();
    await this.launch();
  }

  private paused = false;

  /**
   * Freeze the server (SIGSTOP) and resolve once every thread of it has stopped. Held longer than a client's
   * session timeout, it expires the session. kill() returns when the signal is queued: Linux wakes one thread to
   * stop the group, and until that thread runs the others do too — on a loaded machine long enough to answer a
   * request sent "after" the pause (seen in CI). So this waits until /proc shows every thread stopped.
   */
  async pause(): Promise<void> {
    const pid = this.child?.pid;
    if (!pid) throw new Error('ZooKeeper is not running');
    process.kill(pid, 'SIGSTOP');
    this.paused = true;
    await waitUntilStopped(pid);
  }

  resume(): void {
    if (!this.child?.pid) return;
    process.kill(this.child.pid, 'SIGCONT');
    this.paused = false;
  }

  /** Synchronous last resort for process exit handlers: never leave a ZooKeeper behind. */
  killNow(): void {
    if (this.paused) this.resume();
    this.child?.kill('SIGKILL');
  }

  async destroy(): Promise<void> {
    await this.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves once every thread of `pid` is stopped (state T in /proc); at once where there is no /proc. */
async function waitUntilStopped(pid: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    let tids: string[];
    try {
      tids = await readdir(`/proc/${pid}/task`);
    } catch {
      return; // not Linux, or the process is gone
    }
    const states = await Promise.all(
      tids.map((tid) =>
        readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8').then(
          (stat) => stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3),
          () => 'T', // a thread that ended meanwhile stops nothing
        ),
      ),
    );
    if (states.every((state) => state === 'T' || state === 't')) return;
    if (Date.now() > deadline) throw new Error(`ZooKeeper (pid ${pid}) did not stop within 10 s of SIGSTOP`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** ZooKeeper's four-letter health check: "imok" once the server accepts clients. */
function ruok(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host: '127.0.0.1' });
    let data = '';
    sock.setTimeout(1000);
    sock.on('connect', () => sock.end('ruok'));
    sock.on('data', (d) => (data += d.toString()));
    sock.on('close', () => resolve(data === 'imok'));
    sock.on('error', () => resolve(false));
    sock.on('timeout', () => sock.destroy());
  });
}
