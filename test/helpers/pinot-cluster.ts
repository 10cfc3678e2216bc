import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { ZkSession, type ZkSessionOptions } from '../../src/helix/zk-session.js';

export { PinotClusterSeeder, segmentRecord, type SegmentFields, type TableOptions } from '../../src/agent/demo/cluster-seeder.js';

/** A cluster name no other test file uses on the shared ZooKeeper. */
export function uniqueClusterName(prefix = 'test'): string {
  return `${prefix}_${randomBytes(4).toString('hex')}`;
}

/** Connect a session to the run's shared ZooKeeper (or another one). */
export async function connectSession(options: Partial<ZkSessionOptions> = {}): Promise<ZkSession> {
  const session = new ZkSession({ connectString: options.connectString ?? inject('zkConnectString'), sessionTimeoutMs: 10_000, ...options });
  await session.waitConnected(20_000);
  return session;
}
