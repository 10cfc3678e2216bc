/**
 * Benchmark (issue 3): download a generated segment (half random, half text) from the sidecar's HTTP
 * server over loopback, and compare with the shell (`tar -cf - | gzip -1`, `tar -czf`) and with Pinot's
 * temp-file method (tar.gz to a file, then send the file). The server runs in a fresh child process (its
 * RSS and write_bytes are the sidecar's alone); the client drains the bytes in this process. Prints
 * ratios, time to first byte, peak RSS of the server with N concurrent downloads, and the bytes the server
 * wrote to storage (temp files: should be 0).
 * Goals: >= 1.0x `tar|gzip -1` at level 1, first byte <= 50 ms, peak RSS <= 200 MiB with 8 downloads, 0 temp bytes.
 *
 *   node --import tsx bench/segment-stream.ts [--size-mib 512] [--concurrency 8] [--level 1]
 *     [--dir .bench/segment-stream]
 */
import { execFile, fork } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import http from 'node:http';
import { createApp } from '../src/agent/http/app.js';
import { DownloadSlots } from '../src/agent/http/download-slots.js';
import { startHttpServer } from '../src/agent/http/server.js';
import { createMetrics } from '../src/agent/metrics.js';
import { silentLogger } from '../src/log.js';
import { SegmentStore } from '../src/segments/segment-store.js';
import { buildSegment } from '../test/helpers/segment-builder.js';

const { values } = parseArgs({
  options: {
    'size-mib': { type: 'string', default: '512' },
    concurrency: { type: 'string', default: '8' },
    level: { type: 'string', default: '1' },
    dir: { type: 'string', default: '.bench/segment-stream' },
    child: { type: 'boolean', default: false },
  },
});
const TABLE = 'bench_OFFLINE';
const SEGMENT = `bench__0__0__20240101T0000Z`;
const benchDir = path.resolve(values.dir);
const dataDir = path.join(benchDir, 'data');
const level = Number(values.level);
const run = promisify(execFile);

interface Timed {
  ms: number;
  firstByteMs: number;
  bytes: number;
}

interface ChildReport {
  concurrency: number;
  peakRssMiB: number;
  startRssMiB: number;
  bytesWrittenToStorage: number;
  totalBytes: number;
}

/** Drains a stream into nothing, timing the first byte and the end. */
async function drain(stream: Readable, start: number): Promise<Timed> {
  let firstByteMs = -1;
  let bytes = 0;
  await pipeline(
    stream,
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        if (firstByteMs < 0) firstByteMs = performance.now() - start;
        bytes += chunk.length;
        callback();
      },
    }),
  );
  return { ms: performance.now() - start, firstByteMs, bytes };
}

/** One download from the sidecar's HTTP server, drained by this process. */
function httpDownload(port: number): Promise<Timed> {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: `/tables/${TABLE}/segments/${SEGMENT}` }, (res) => {
        if (res.statusCode !== 200) reject(new Error(`HTTP ${res.statusCode}`));
        drain(res, start).then(resolve, reject);
      })
      .on('error', reject);
  });
}

async function shell(command: string): Promise<number> {
  const start = performance.now();
  await run('bash', ['-o', 'pipefail', '-c', command], { maxBuffer: 1024 * 1024 });
  return performance.now() - start;
}

/** Pinot's server endpoint: tar.gz (commons-compress, gzip level 6) to a temp file, then send it. */
async function tempFileMethod(): Promise<Timed & { tempBytes: number }> {
  const tmp = path.join(benchDir, 'pinot-temp.tar.gz');
  const start = performance.now();
  await run('tar', ['-czf', tmp, '-C', path.join(dataDir, TABLE), SEGMENT]);
  const sent = await drain(createReadStream(tmp, { highWaterMark: 1024 * 1024 }), start);
  const tempBytes = (await stat(tmp)).size;
  await rm(tmp);
  return { ...sent, tempBytes };
}

/**
 * Bytes this process caused to be written to storage (/proc/self/io write_bytes): a temp file shows
 * here. Not `wchar`, which also counts libuv's 8-byte eventfd wake-ups for every threadpool job.
 */
async function writtenToStorage(): Promise<number> {
  const io = await readFile('/proc/self/io', 'utf8');
  return Number(/^write_bytes: (\d+)$/m.exec(io)?.[1] ?? Number.NaN);
}

/** The sidecar's HTTP app over the bench data dir; reports its own peak RSS and storage writes on request. */
async function child(): Promise<void> {
  const metrics = createMetrics({ defaultMetrics: false });
  const app = createApp({
    store: new SegmentStore(dataDir),
    slots: new DownloadSlots(16, 16),
    metrics,
    logger: silentLogger,
    gzipLevel: level,
    readiness: () => ({ ready: true, reasons: [] }),
    accepting: () => true,
  });
  const server = await startHttpServer(app, { port: 0, host: '127.0.0.1' });
  const startRss = process.memoryUsage().rss;
  let peakRss = startRss;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 10);
  const writtenBefore = await writtenToStorage();
  process.send?.({ port: server.port });
  process.once('message', () => void report());
  async function report(): Promise<void> {
    clearInterval(sampler);
    const report: ChildReport = {
      concurrency: Number(values.concurrency),
      peakRssMiB: Math.max(peakRss, process.memoryUsage().rss) / 2 ** 20,
      startRssMiB: startRss / 2 ** 20,
      bytesWrittenToStorage: (await writtenToStorage()) - writtenBefore,
      totalBytes: 0,
    };
    process.send?.(report, undefined, undefined, () => process.exit(0));
  }
}

function startChild(): Promise<{ port: number; report: () => Promise<ChildReport> }> {
  return new Promise((resolve, reject) => {
    const proc = fork(fileURLToPath(import.meta.url), [...process.argv.slice(2), '--child'], {
      execArgv: ['--import', 'tsx'],
    });
    proc.once('error', reject);
    proc.once('message', (m) =>
      resolve({
        port: (m as { port: number }).port,
        report: () =>
          new Promise((done) => {
            proc.once('message', (r) => done(r as ChildReport));
            proc.send('report');
          }),
      }),
    );
  });
}

async function main(): Promise<void> {
  const sizeMiB = Number(values['size-mib']);
  await rm(benchDir, { recursive: true, force: true });
  await mkdir(benchDir, { recursive: true });
  console.log(`building a ${sizeMiB} MiB segment (half random, half text) in ${dataDir} ...`);
  await buildSegment(path.join(dataDir, TABLE), {
    name: SEGMENT,
    payloadBytes: sizeMiB * 2 ** 20,
    payloadKind: 'mixed',
  });
  // Warm the page cache so every method reads from memory.
  await shell(`cat ${path.join(dataDir, TABLE, SEGMENT)}/* > /dev/null`);

  const server = await startChild();
  await httpDownload(server.port); // warm-up: module loading and zlib set-up are not part of a download
  const sidecar = await httpDownload(server.port);
  const pipeGzip1 = await shell(`tar -cf - -C ${path.join(dataDir, TABLE)} ${SEGMENT} | gzip -1 > /dev/null`);
  const tarCzf = await shell(`tar -czf - -C ${path.join(dataDir, TABLE)} ${SEGMENT} > /dev/null`);
  const pinot = await tempFileMethod();
  const concurrency = Number(values.concurrency);
  const parallel = await Promise.all(Array.from({ length: concurrency }, () => httpDownload(server.port)));
  const concurrent = await server.report();
  concurrent.totalBytes = parallel.reduce((sum, r) => sum + r.bytes, 0);

  const rows: [string, string][] = [
    ['cpus', String(os.cpus().length)],
    [
      `sidecar HTTP download (gzip level ${level})`,
      `${sidecar.ms.toFixed(0)} ms, ${(sidecar.bytes / 2 ** 20).toFixed(1)} MiB`,
    ],
    ['tar -cf - | gzip -1', `${pipeGzip1.toFixed(0)} ms  → sidecar is ${(pipeGzip1 / sidecar.ms).toFixed(2)}x as fast`],
    ['tar -czf (gzip -6)', `${tarCzf.toFixed(0)} ms  → sidecar is ${(tarCzf / sidecar.ms).toFixed(2)}x as fast`],
    [
      'Pinot temp-file method',
      `${pinot.ms.toFixed(0)} ms  → sidecar is ${(pinot.ms / sidecar.ms).toFixed(2)}x as fast`,
    ],
    ['time to first byte: sidecar', `${sidecar.firstByteMs.toFixed(1)} ms`],
    ['time to first byte: Pinot temp file', `${pinot.firstByteMs.toFixed(0)} ms`],
    ['temp bytes written: Pinot temp file', `${pinot.tempBytes}`],
    [`temp bytes written: sidecar (${concurrent.concurrency} downloads)`, `${concurrent.bytesWrittenToStorage}`],
    [
      `peak RSS, ${concurrent.concurrency} concurrent downloads`,
      `${concurrent.peakRssMiB.toFixed(0)} MiB (process start ${concurrent.startRssMiB.toFixed(0)} MiB)`,
    ],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`);
  await rm(benchDir, { recursive: true, force: true });
}

if (values.child) await child();
else await main();
