// The tests start the same real ZooKeeper the demo does (Debian's package, standalone, loopback). Most files use
// the run's shared one (test/setup/zookeeper.ts); a file that stops, pauses or restarts ZooKeeper takes its own
// with useOwnZooKeeper().
import { afterAll, beforeAll } from 'vitest';
import { ZooKeeperServer, type ZooKeeperServerOptions } from '../../src/agent/demo/local-zookeeper.js';

export { freePort, ZooKeeperServer, ZOOKEEPER_MISSING } from '../../src/agent/demo/local-zookeeper.js';

export interface OwnZooKeeper {
  /** The server, started by the beforeAll this registered: read it inside hooks and tests, not at collection. */
  readonly server: ZooKeeperServer;
  /** `host:port` of that server (what a session or a sidecar connects to). */
  readonly connectString: string;
}

/**
 * A ZooKeeper of the file's (or the describe block's) own, for tests that pause, stop or restart it: doing so
 * to the shared one would expire every other file's sessions. One home for its lifecycle: started in beforeAll,
 * destroyed (resumed first if paused, process stopped, data dir removed) in afterAll, even when a later setup
 * step failed. Register it before the hooks that use it: vitest runs afterAll hooks in reverse order
 * (`sequence.hooks: 'stack'`), so the server outlives the sessions those hooks close.
 */
export function useOwnZooKeeper(options: ZooKeeperServerOptions = {}): OwnZooKeeper {
  let server: ZooKeeperServer | undefined;
  beforeAll(async () => {
    server = await ZooKeeperServer.start(options);
  });
  afterAll(async () => {
    await server?.destroy();
    server = undefined;
  });
  const started = (): ZooKeeperServer => {
    if (!server) throw new Error('useOwnZooKeeper(): no server outside its hooks; read it in a hook or a test');
    return server;
  };
  return {
    get server() {
      return started();
    },
    get connectString() {
      return started().connectString;
    },
  };
}
