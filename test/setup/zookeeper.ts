import type { TestProject } from 'vitest/node';
import { ZooKeeperServer } from '../helpers/zookeeper-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** host:port of the ZooKeeper shared by the whole run. Give each test file its own cluster name. */
    zkConnectString: string;
  }
}

/** Starts one real ZooKeeper for the run; test files get its address with inject('zkConnectString'). */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const server = await ZooKeeperServer.start();
  project.provide('zkConnectString', server.connectString);
  return async () => {
    await server.destroy();
  };
}
