import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { PinotClusterSeeder } from '../../src/agent/demo/cluster-seeder.js';
import { ZooKeeperServer } from '../../src/agent/demo/local-zookeeper.js';
import { isZkCode } from '../../src/helix/errors.js';
import { ZkSession } from '../../src/helix/zk-session.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { startS3Fake, type S3Fake } from '../helpers/s3-fake.js';
import type { Rng } from '../helpers/rng.js';
import { ZkGate } from './zk-gate.js';

/**
 * The stage of a chaos run: a ZooKeeper of its own (it gets restarted and paused, so never the shared test
 * one), the S3 fake behind the fault proxy, a Pinot cluster seeded the way Helix and Pinot write it, and
 * three simulated Pinot servers. A server here is its Helix side (a live instance with a session id and
 * current states, written by the driver as the participant would) plus a data dir; its sidecar is a real
 * process (sidecars.ts).
 */

export const CLUSTER = 'ChaosCluster';
export const BUCKET = 'chaos';
export const DEEP_STORE_URI = `s3://${BUCKET}/pinot/data`;
/** A plain table and a pauseless one (COMMITTING segments live there). Retention 5 days on both. */
export const TABLES = { plain: 'events_REALTIME', pauseless: 'clicks_REALTIME' } as const;
export const RETENTION_MS = 5 * 24 * 3_600_000;
export const SERVER_COUNT = 3;

export interface SimServer {
  index: number;
  instance: string;
  dataDir: string;
  /** The Pinot server's Helix session (names its CURRENTSTATES folder). */
  helixSession: string;
  /** table → segment → CURRENT_STATE, as last written. */
  states: Map<string, Map<string, string>>;
}

export class ChaosWorld {
  readonly gate = new ZkGate();
  readonly seeder: PinotClusterSeeder;

  private constructor(
    readonly dir: string,
    readonly zk: ZooKeeperServer,
    readonly s3: S3Fake,
    readonly proxy: FaultProxy,
    /** The driver's session: the controller's and the participants' writes. Long timeout: it rides out pauses. */
    readonly session: ZkSession,
    readonly servers: SimServer[],
  ) {
    this.seeder = new PinotClusterSeeder(session, CLUSTER);
  }

  static async start(dir: string, rng: Rng): Promise<ChaosWorld> {
    const zk = await ZooKeeperServer.start({ dir: path.join(dir, 'zookeeper') });
    let s3: S3Fake | undefined;
    let proxy: FaultProxy | undefined;
    let session: ZkSession | undefined;
    try {
      s3 = await startS3Fake();
      await s3.createBucket(BUCKET);
      proxy = await startFaultProxy(s3.endpoint, { random: rng.fork('proxy').next });
      session = new ZkSession({
        connectString: zk.connectString,
        sessionTimeoutMs: 30_000,
        operationTimeoutMs: 20_000,
      });
      await session.waitConnected(20_000);
      const servers: SimServer[] = [];
      for (let index = 1; index <= SERVER_COUNT; index++) {
        const dataDir = path.join(dir, `server-${index}`, 'data');
        await mkdir(dataDir, { recursive: true });
        servers.push({
          index,
          instance: `Server_pinot-server-${index}_8098`,
          dataDir,
          helixSession: '',
          states: new Map(),
        });
      }
      const world = new ChaosWorld(dir, zk, s3, proxy, session, servers);
      await world.seedCluster();
      return world;
    } catch (err) {
      await session?.close();
      await proxy?.stop();
      await s3?.stop();
      await zk.destroy();
      throw err;
    }
  }

  private async seedCluster(): Promise<void> {
    const seed = this.seeder;
    await seed.createCluster();
    await seed.addTable(TABLES.plain, { retention: { unit: 'DAYS', value: '5' }, replication: 3 });
    await seed.addTable(TABLES.pauseless, { retention: { unit: 'DAYS', value: '5' }, replication: 3, pauseless: true });
    for (const server of this.servers) {
      server.helixSession = await seed.addInstance(server.instance, { host: `pinot-server-${server.index}` });
      for (const table of Object.values(TABLES)) {
        server.states.set(table, new Map());
        await this.writeCurrentState(server, table);
      }
    }
  }

  /** CURRENTSTATES/<session>/<table> from `server.states`, as the Helix participant keeps it. */
  async writeCurrentState(server: SimServer, table: string): Promise<void> {
    const states = Object.fromEntries(server.states.get(table) ?? []);
    await this.zkRetry(() => this.seeder.setCurrentState(server.instance, server.helixSession, table, states));
  }

  /** Set (or with null, drop) replicas' states and write the affected current-state records. */
  async setReplicaStates(table: string, changes: ReadonlyArray<[SimServer, string, string | null]>): Promise<void> {
    const touched = new Set<SimServer>();
    for (const [server, segment, state] of changes) {
      const map = server.states.get(table)!;
      if (state === null) map.delete(segment);
      else map.set(segment, state);
      touched.add(server);
    }
    for (const server of touched) await this.gate.run(() => this.writeCurrentState(server, table));
  }

  /**
   * The Pinot server restarts (its sidecar does not): a new Helix session in LIVEINSTANCES, its current states
   * carried over to the new session as OFFLINE, the old session's folder dropped; after `onlineAfterMs` the
   * controller's OFFLINE→ONLINE transitions bring every replica back. What Helix does for a participant with
   * a new session.
   */
  async restartServer(server: SimServer, onlineAfterMs: number, wait: (ms: number) => Promise<void>): Promise<void> {
    const oldSession = server.helixSession;
    const online = new Map([...server.states].map(([table, map]) => [table, new Map(map)]));
    await this.gate.run(async () => {
      server.helixSession = await this.zkRetry(() =>
        this.seeder.setLive(server.instance, randomBytes(8).toString('hex').replace(/^0+/, '')),
      );
      for (const [table, map] of server.states) {
        for (const segment of map.keys()) map.set(segment, 'OFFLINE');
        await this.writeCurrentState(server, table);
      }
      await this.removeTree(this.seeder.paths.currentStates(server.instance, oldSession));
    });
    await wait(onlineAfterMs);
    await this.gate.run(async () => {
      for (const [table, map] of server.states) {
        // Segments dropped meanwhile (retention) stay dropped.
        for (const segment of map.keys()) map.set(segment, online.get(table)?.get(segment) ?? 'ONLINE');
        await this.writeCurrentState(server, table);
      }
    });
  }

  private async removeTree(root: string): Promise<void> {
    const children = await this.session.getChildren(root).then(
      (r) => r.children,
      (err: unknown) => {
        if (isZkCode(err, 'NO_NODE')) return [];
        throw err;
      },
    );
    for (const child of children) await this.removeTree(`${root}/${child}`);
    await this.seeder.remove(root);
  }

  /**
   * Retry a Helix-side write over ZooKeeper hiccups (the gate keeps it out of the faults; a blip can remain).
   * Only for records the driver alone writes (live instances, current states), where retrying after BAD_VERSION
   * is safe; segment metadata writes settle ambiguity by reading back instead (driver.ts).
   */
  async zkRetry<T>(operation: () => Promise<T>, tries = 8): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await operation();
      } catch (err) {
        const retriable =
          isZkCode(err, 'CONNECTION_LOSS') ||
          isZkCode(err, 'TIMEOUT') ||
          isZkCode(err, 'SESSION_EXPIRED') ||
          isZkCode(err, 'BAD_VERSION');
        if (!retriable || attempt >= tries) throw err;
        await this.session.waitConnected(20_000).catch(() => undefined);
      }
    }
  }

  async stop(): Promise<void> {
    await this.session.close();
    await this.proxy.stop();
    await this.s3.stop();
    await this.zk.stop();
  }
}
