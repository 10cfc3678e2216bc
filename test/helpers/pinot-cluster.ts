import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, inject } from 'vitest';
import { PinotClusterSeeder } from '../../src/agent/demo/cluster-seeder.js';
import { ZkSession, type ZkSessionOptions } from '../../src/helix/zk-session.js';

export {
  PinotClusterSeeder,
  segmentRecord,
  type SegmentFields,
  type TableOptions,
} from '../../src/agent/demo/cluster-seeder.js';

/** A cluster name no other test file uses on the shared ZooKeeper. */
export function uniqueClusterName(prefix = 'test'): string {
  return `${prefix}_${randomBytes(4).toString('hex')}`;
}

/** Connect a session to the run's shared ZooKeeper (or another one); closed again if it does not connect. */
export async function connectSession(options: Partial<ZkSessionOptions> = {}): Promise<ZkSession> {
  const session = new ZkSession({
    connectString: options.connectString ?? inject('zkConnectString'),
    sessionTimeoutMs: 10_000,
    ...options,
  });
  try {
    await session.waitConnected(20_000);
  } catch (err) {
    await session.close();
    throw err;
  }
  return session;
}

export interface SeededClusterOptions {
  /** Helix cluster config simple fields, written by createCluster (e.g. `max.segment.completion.time.millis`). */
  clusterConfig?: Record<string, string>;
  /** More seeding in the same hook, after createCluster (instances, tables, segments). */
  setup?: (seed: PinotClusterSeeder) => Promise<unknown>;
  /** 'all' (default): one cluster for the file or describe block; 'each': a new cluster for every test. */
  scope?: 'all' | 'each';
  /** The seeding session's options (default: connectSession's). */
  session?: Partial<Omit<ZkSessionOptions, 'connectString'>>;
  /** Seed on this ZooKeeper (e.g. a useOwnZooKeeper() handle), read when the hook runs; default: the shared one. */
  zooKeeper?: { readonly connectString: string };
}

export interface SeededCluster {
  /** The seeding session (open until the matching after-hook). */
  readonly session: ZkSession;
  readonly seed: PinotClusterSeeder;
  /** The cluster's name, unique on its ZooKeeper. */
  readonly cluster: string;
}

/**
 * A Pinot cluster seeded on a name of its own: a session, a PinotClusterSeeder on `uniqueClusterName(prefix)`,
 * createCluster, then `setup`, in beforeAll (or beforeEach with `scope: 'each'`). One home for the lifecycle
 * every file used to copy: the session is closed in the matching after-hook, also when createCluster or `setup`
 * failed. Hooks registered after this one run after it, so they can seed more on `seed`; their after-hooks run
 * before this one's (vitest's `sequence.hooks: 'stack'`), while the session is still open.
 */
export function useSeededCluster(prefix: string, options: SeededClusterOptions = {}): SeededCluster {
  let session: ZkSession | undefined;
  let seed: PinotClusterSeeder | undefined;
  const before = options.scope === 'each' ? beforeEach : beforeAll;
  const after = options.scope === 'each' ? afterEach : afterAll;
  before(async () => {
    const connectString = options.zooKeeper?.connectString;
    session = await connectSession({ ...options.session, ...(connectString === undefined ? {} : { connectString }) });
    seed = new PinotClusterSeeder(session, uniqueClusterName(prefix));
    await seed.createCluster(options.clusterConfig);
    await options.setup?.(seed);
  });
  after(async () => {
    const open = session;
    session = undefined;
    seed = undefined;
    await open?.close();
  });
  const seeded = (): PinotClusterSeeder => {
    if (!seed) throw new Error(`useSeededCluster('${prefix}'): no cluster outside its hooks; read it in one or a test`);
    return seed;
  };
  return {
    get session() {
      return seeded().session;
    },
    get seed() {
      return seeded();
    },
    get cluster() {
      return seeded().cluster;
    },
  };
}
