/**
 * Benchmark (issue 15): the upload step of a repair of one large segment — plan the archive, stream it through the
 * parallel one-member gzip, put it to a file deep store (temp file + rename), as runRepairAttempt does — on one
 * compression thread and on every core, in one run. Prints times and the ratio; not a test.
 *
 *   node --import tsx bench/repair-upload.ts [--size-mib 256] [--dir .bench/repair-upload]
 */
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { FileDeepStore } from '../src/deepstore/index.js';
import {
  CompressionPool,
  defaultCompressionThreads,
  planSegmentArchive,
  SegmentStore,
  streamSegmentArchive,
} from '../src/segments/index.js';
import { buildSegment } from '../test/helpers/segment-builder.js';

const { values } = parseArgs({
  options: { 'size-mib': { type: 'string', default: '256' }, dir: { type: 'string', default: '.bench/repair-upload' } },
});
const sizeMiB = Number(values['size-mib']);
const root = path.resolve(values.dir);
await rm(root, { recursive: true, force: true });
const dataDir = path.join(root, 'data');
const table = 'bench_REALTIME';
const name = 'bench__0__1__20240101T0000Z';
console.log(`building a ${sizeMiB} MiB segment (half random, half text) ...`);
const built = await buildSegment(path.join(dataDir, table), {
  name,
  payloadBytes: sizeMiB * 1024 * 1024,
  payloadKind: 'mixed',
});
const resolved = await new SegmentStore(dataDir).resolve(table, name);

async function upload(threads: number, run: number): Promise<{ ms: number; bytes: number }> {
  const storeDir = path.join(root, `deep-${threads}-${run}`);
  await mkdir(storeDir, { recursive: true });
  const store = new FileDeepStore(pathToFileURL(storeDir).href);
  const pool = new CompressionPool({ threads });
  try {
    const started = performance.now();
    const plan = await planSegmentArchive(resolved);
    const { bytes } = await store.put(
      store.segmentUri('bench', name),
      streamSegmentArchive(plan, { compressionPool: pool }),
      {
        crc: String(built.crc),
      },
    );
    return { ms: performance.now() - started, bytes };
  } finally {
    await pool.close();
    await store.close();
    await rm(storeDir, { recursive: true, force: true });
  }
}

const cores = defaultCompressionThreads();
const one: number[] = [];
const all: number[] = [];
for (let run = 0; run < 2; run++) {
  one.push((await upload(1, run)).ms);
  all.push((await upload(cores, run)).ms);
}
const best = (xs: number[]) => Math.min(...xs);
console.log(
  `upload step, 1 compression thread     ${best(one).toFixed(0)} ms (runs: ${one.map((x) => x.toFixed(0)).join(', ')})`,
);
console.log(
  `upload step, ${cores} compression threads    ${best(all).toFixed(0)} ms (runs: ${all.map((x) => x.toFixed(0)).join(', ')})`,
);
console.log(`→ the repair's upload is ${(best(one) / best(all)).toFixed(2)}x as fast on ${cores} threads`);
await rm(root, { recursive: true, force: true });
