/** The tests start the same real ZooKeeper the demo does (Debian's package, standalone, loopback). */
export { freePort, ZooKeeperServer, ZOOKEEPER_MISSING } from '../../src/agent/demo/local-zookeeper.js';
