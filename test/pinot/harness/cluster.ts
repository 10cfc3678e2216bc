import { mkdir, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { freePort, ZooKeeperServer } from '../../helpers/zookeeper-server.js';
import { waitUntil } from '../../chaos/wait.js';
import { JavaService } from './java-service.js';
import type { PinotJars } from './jars.js';
import { SUITE_DIR } from './jars.js';
import { forget, remember } from './leftovers.js';

/**
 * A real Apache Pinot cluster on loopback: Debian's ZooKeeper, one controller, one broker, two servers and
 * Pinot's embedded Kafka (PinotAdministrator StartKafka), every port from freePort(), every file under one run
 * directory. Probe findings it relies on (/work/pinot-probe): Java 17 needs the --add-opens below (without
 * java.base/java.lang the servers exit -1 about 30 s after start); StartXxx -help would start the service, so no
 * command is ever probed; the embedded Kafka writes its log dir at a hard-coded /tmp/kafka-0x<random>, found
 * through the process's open files and removed at the end.
 */
export const CLUSTER_NAME = 'RealPinotSuite';

const JAVA_17_OPENS = [
  '--add-opens=java.base/java.nio=ALL-UNNAMED',
  '--add-opens=java.base/sun.nio.ch=ALL-UNNAMED',
  '--add-opens=java.base/java.lang=ALL-UNNAMED',
  '--add-opens=java.base/java.util=ALL-UNNAMED',
  '--add-opens=java.base/java.lang.reflect=ALL-UNNAMED',
  '--add-opens=java.base/jdk.internal.ref=ALL-UNNAMED',
  '--add-exports=java.base/jdk.internal.ref=ALL-UNNAMED',
  '--add-opens=java.base/jdk.internal.misc=ALL-UNNAMED',
  '--add-exports=java.base/jdk.internal.misc=ALL-UNNAMED',
];

/** Heap per JVM: five JVMs and two sidecars must fit a small CI machine (~1.4 GB RSS measured). */
const HEAP = { controller: '384m', broker: '256m', server: '384m', kafka: '256m' } as const;
const READY_TIMEOUT_MS = 240_000;

export interface PinotServer {
  index: number;
  /** Helix instance id, `Server_<host>_<nettyPort>` (as the sidecar's --instance). */
  instance: string;
  nettyPort: number;
  adminPort: number;
  dataDir: string;
  service: JavaService;
  confFile: string;
}

export class RealPinotCluster {
  zk!: ZooKeeperServer;
  controller!: JavaService;
  broker!: JavaService;
  kafka!: JavaService;
  readonly servers: PinotServer[] = [];
  controllerPort = 0;
  brokerPort = 0;
  kafkaPort = 0;
  /** The controller's controller.data.dir, a file:// deep store; the servers upload into it too. */
  readonly deepStoreDir: string;
  private readonly kafkaLogDirs = new Set<string>();

  constructor(
    readonly jars: PinotJars,
    readonly runDir: string,
    private readonly settings: { controllerConf: Record<string, string> },
  ) {
    this.deepStoreDir = path.join(runDir, 'deepstore');
  }

  get deepStoreUri(): string {
    return `file://${this.deepStoreDir}`;
  }

  get zkAddress(): string {
    return this.zk.connectString;
  }

  get controllerUrl(): string {
    return `http://localhost:${this.controllerPort}`;
  }

  get brokerUrl(): string {
    return `http://localhost:${this.brokerPort}`;
  }

  get kafkaBootstrap(): string {
    return `localhost:${this.kafkaPort}`;
  }

  private java(name: string, heap: string, adminArgs: string[]): JavaService {
    const tmp = path.join(this.runDir, 'jvm-tmp', name);
    return new JavaService({
      name,
      cwd: this.runDir,
      logFile: path.join(this.runDir, 'logs', `${name}.log`),
      args: [
        `-Xms64m`,
        `-Xmx${heap}`,
        '-XX:+UseSerialGC',
        // Less JIT work at start: the cluster is up sooner on two cores, and nothing here is CPU-bound for long.
        '-XX:TieredStopAtLevel=1',
        ...JAVA_17_OPENS,
        `-Dlog4j2.configurationFile=${path.join(SUITE_DIR, 'log4j2.xml')}`,
        // PinotAdministrator writes its .pinotAdmin*.pid files into java.io.tmpdir: keep them in the run dir.
        `-Djava.io.tmpdir=${tmp}`,
        '-cp',
        this.jars.classpath,
        'org.apache.pinot.tools.admin.PinotAdministrator',
        ...adminArgs,
      ],
    });
  }

  async start(progress: (line: string) => void): Promise<void> {
    await mkdir(path.join(this.runDir, 'logs'), { recursive: true });
    await mkdir(this.deepStoreDir, { recursive: true });
    for (const name of ['controller', 'broker', 'server1', 'server2', 'kafka'])
      await mkdir(path.join(this.runDir, 'jvm-tmp', name), { recursive: true });
    const startedAt = Date.now();
    this.zk = await ZooKeeperServer.start({ dir: path.join(this.runDir, 'zk'), tickTimeMs: 500 });
    if (this.zk.pid !== undefined) remember('pid', this.zk.pid);
    [this.controllerPort, this.brokerPort, this.kafkaPort] = [await freePort(), await freePort(), await freePort()];

    const controllerConf = path.join(this.runDir, 'controller.conf');
    await writeProperties(controllerConf, {
      'controller.helix.cluster.name': CLUSTER_NAME,
      'controller.zk.str': this.zkAddress,
      'controller.host': 'localhost',
      'controller.port': String(this.controllerPort),
      'controller.data.dir': this.deepStoreUri,
      'controller.local.temp.dir': path.join(this.runDir, 'controller-tmp'),
      ...this.settings.controllerConf,
    });
    this.controller = this.java('controller', HEAP.controller, ['StartController', '-configFileName', controllerConf]);
    this.controller.start();
    await this.waitHttp(this.controller, `${this.controllerUrl}/health`);
    progress(`controller up after ${secondsSince(startedAt)} s`);

    this.broker = this.java('broker', HEAP.broker, [
      'StartBroker',
      '-brokerHost',
      'localhost',
      '-brokerPort',
      String(this.brokerPort),
      '-brokerMultiStageRunnerPort',
      String(await freePort()),
      '-zkAddress',
      this.zkAddress,
      '-clusterName',
      CLUSTER_NAME,
    ]);
    for (const index of [1, 2]) this.servers.push(await this.defineServer(index));
    this.kafka = this.java('kafka', HEAP.kafka, [
      'StartKafka',
      '-port',
      String(this.kafkaPort),
      '-zkAddress',
      `${this.zkAddress}/kafka`,
      '-brokerId',
      '0',
    ]);
    this.broker.start();
    for (const server of this.servers) server.service.start();
    this.kafka.start();
    await Promise.all([
      this.waitHttp(this.broker, `${this.brokerUrl}/health`),
      ...this.servers.map((s) => this.waitServer(s)),
      this.waitKafka(),
    ]);
    progress(
      `cluster up after ${secondsSince(startedAt)} s (controller, broker, 2 servers, Kafka; ZooKeeper ${this.zkAddress})`,
    );
  }

  private async defineServer(index: number): Promise<PinotServer> {
    const nettyPort = await freePort();
    const adminPort = await freePort();
    const dataDir = path.join(this.runDir, `server${index}`, 'data');
    const confFile = path.join(this.runDir, `server${index}.conf`);
    await writeProperties(confFile, {
      'pinot.cluster.name': CLUSTER_NAME,
      'pinot.zk.server': this.zkAddress,
      'pinot.server.netty.host': 'localhost',
      'pinot.server.netty.port': String(nettyPort),
      'pinot.server.adminapi.port': String(adminPort),
      'pinot.server.grpc.port': String(await freePort()),
      'pinot.query.server.port': String(await freePort()),
      'pinot.query.runner.port': String(await freePort()),
      'pinot.server.instance.dataDir': dataDir,
      'pinot.server.instance.segmentTarDir': path.join(this.runDir, `server${index}`, 'segmentTar'),
      // Server-side upload of committed segments (PeerSchemeSplitSegmentCommitter, used when the table sets
      // peerSegmentDownloadScheme): into the controller's deep store.
      'pinot.server.instance.segment.store.uri': this.deepStoreUri,
      'pinot.server.instance.enable.split.commit': 'true',
    });
    const service = this.java(`server${index}`, HEAP.server, ['StartServer', '-configFileName', confFile]);
    return { index, instance: `Server_localhost_${nettyPort}`, nettyPort, adminPort, dataDir, service, confFile };
  }

  private async waitServer(server: PinotServer): Promise<void> {
    await this.waitHttp(server.service, `http://localhost:${server.adminPort}/health`);
  }

  private async waitHttp(service: JavaService, url: string): Promise<void> {
    await waitUntil(
      `${service.name} healthy at ${url}`,
      async () => {
        if (!service.running)
          throw new Error(
            `${service.name} exited (code ${service.exitCode}) before it was healthy:\n${service.logTail()}`,
          );
        const res = await fetch(url, { signal: AbortSignal.timeout(2_000) }).catch(() => null);
        await res?.body?.cancel();
        return res?.status === 200;
      },
      { timeoutMs: READY_TIMEOUT_MS, intervalMs: 500 },
    );
  }

  private async waitKafka(): Promise<void> {
    await waitUntil(
      'Kafka accepting connections',
      async () => {
        if (!this.kafka.running)
          throw new Error(`Kafka exited (code ${this.kafka.exitCode}):\n${this.kafka.logTail()}`);
        return portOpen(this.kafkaPort);
      },
      { timeoutMs: READY_TIMEOUT_MS, intervalMs: 500 },
    );
    await this.noteKafkaLogDirs();
  }

  /** The embedded Kafka's /tmp/kafka-0x... log dir, from the process's open files (its lock file is held open). */
  private async noteKafkaLogDirs(): Promise<void> {
    const pid = this.kafka.pid;
    if (pid === undefined) return;
    const fdDir = `/proc/${pid}/fd`;
    for (const fd of await readdir(fdDir).catch(() => [])) {
      const target = await readlink(path.join(fdDir, fd)).catch(() => '');
      const match = /^(\/tmp\/kafka-[^/]+)/.exec(target);
      if (match?.[1] && !this.kafkaLogDirs.has(match[1])) {
        this.kafkaLogDirs.add(match[1]);
        remember('dir', match[1]);
      }
    }
  }

  /** Stop one server (SIGTERM, Helix leaves cleanly), optionally delete its dataDir, start it again. */
  async restartServer(server: PinotServer, options: { wipeDataDir: boolean }): Promise<void> {
    await server.service.stop();
    if (options.wipeDataDir)
      await rm(path.join(this.runDir, `server${server.index}`), { recursive: true, force: true });
    server.service.start();
    await this.waitServer(server);
  }

  /**
   * Stop everything, Pinot first, then Kafka, then ZooKeeper; remove Kafka's /tmp dirs and (unless kept) the run dir.
   */
  async stop(options: { keepRunDir: boolean }): Promise<void> {
    await this.noteKafkaLogDirs().catch(() => undefined);
    const pinot = [this.broker, ...this.servers.map((s) => s.service), this.controller].filter((s) => s !== undefined);
    await Promise.all(pinot.map((s) => s.stop()));
    await this.kafka?.stop();
    if (this.zk) {
      const pid = this.zk.pid;
      await this.zk.stop();
      if (pid !== undefined) forget('pid', pid);
    }
    for (const dir of this.kafkaLogDirs) {
      await rm(dir, { recursive: true, force: true });
      forget('dir', dir);
    }
    if (!options.keepRunDir) await rm(this.runDir, { recursive: true, force: true });
  }

  // --- REST -------------------------------------------------------------------------------------

  async controllerJson<T>(pathAndQuery: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
    return httpJson<T>(`${this.controllerUrl}${pathAndQuery}`, init);
  }

  /** `SELECT COUNT(*) FROM <table>` through the broker. */
  async countRows(table: string): Promise<number> {
    const res = await httpJson<{ resultTable?: { rows: unknown[][] }; exceptions?: unknown[] }>(
      `${this.brokerUrl}/query/sql`,
      {
        method: 'POST',
        body: { sql: `SELECT COUNT(*) FROM ${table}` },
      },
    );
    if (res.exceptions && res.exceptions.length > 0)
      throw new Error(`query on ${table} failed: ${JSON.stringify(res.exceptions)}`);
    const value = res.resultTable?.rows[0]?.[0];
    if (typeof value !== 'number') throw new Error(`query on ${table}: unexpected answer ${JSON.stringify(res)}`);
    return value;
  }
}

export async function httpJson<T>(url: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const res = await fetch(url, {
    method: init.method ?? 'GET',
    headers: init.body === undefined ? {} : { 'content-type': 'application/json' },
    body: init.body === undefined ? null : JSON.stringify(init.body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${init.method ?? 'GET'} ${url}: ${res.status} ${text.slice(0, 500)}`);
  return (text === '' ? null : JSON.parse(text)) as T;
}

async function writeProperties(file: string, props: Record<string, string>): Promise<void> {
  await writeFile(
    file,
    `${Object.entries(props)
      .map(([k, v]) => `${k}=${v}`)
      .join('\n')}\n`,
  );
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host: '127.0.0.1' });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

function secondsSince(t: number): string {
  return ((Date.now() - t) / 1000).toFixed(1);
}
