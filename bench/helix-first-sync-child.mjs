// Child of bench/helix-first-sync.ts --compiled: the tracker from the compiled build (dist/), in plain
// Node without a TypeScript loader, so its RSS is what a deployed sidecar pays.
import { parseArgs } from 'node:util';
import { HostedSegments } from '../dist/helix/hosted-segments.js';
import { ZkSession } from '../dist/helix/zk-session.js';

const { values } = parseArgs({
  options: {
    child: { type: 'string' },
    'quiet-seconds': { type: 'string' },
    concurrency: { type: 'string' },
    cluster: { type: 'string' },
    instance: { type: 'string' },
  },
  strict: false,
});
const idleRss = process.memoryUsage().rss;
const session = new ZkSession({ connectString: values.child, sessionTimeoutMs: 30_000 });
await session.waitConnected();
const tracker = new HostedSegments({
  session,
  cluster: values.cluster,
  instance: values.instance,
  readConcurrency: Number(values.concurrency),
});
const t0 = performance.now();
await tracker.start();
const syncMs = performance.now() - t0;
const requests = { ...session.requests };
const peakRss = process.memoryUsage().rss;
globalThis.gc?.();
const mem = process.memoryUsage();
const before = session.totalRequests();
const quietSeconds = Number(values['quiet-seconds']);
await new Promise((r) => setTimeout(r, quietSeconds * 1000));
process.send?.({
  syncMs,
  hosted: tracker.count(),
  requests,
  rssMiB: mem.rss / 2 ** 20,
  heapMiB: mem.heapUsed / 2 ** 20,
  peakRssMiB: peakRss / 2 ** 20,
  idleRssMiB: idleRss / 2 ** 20,
  quietRequests: session.totalRequests() - before,
  quietSeconds,
});
tracker.stop();
await session.close();
process.exit(0);
