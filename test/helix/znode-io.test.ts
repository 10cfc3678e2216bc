import { createGzip, constants as zlibConstants, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ZNRecordParseError } from '../../src/helix/errors.js';
import { readRecord } from '../../src/helix/znode-io.js';
import { DEFAULT_MAX_RECORD_BYTES } from '../../src/helix/znrecord.js';
import { ZkSession } from '../../src/helix/zk-session.js';
import { connectSession, useSeededCluster } from '../helpers/pinot-cluster.js';

/** ZooKeeper's default jute.maxbuffer: the most one znode can hold. */
const JUTE_MAX_BUFFER = 0xfffff;

/** A gzip record (one member) whose JSON is `mebibytes` MiB of '0's in one simpleField. */
async function gzipBomb(mebibytes: number): Promise<Buffer> {
  // Run-length deflate reaches zlib's ~1030:1 ceiling in a fraction of the time level 9 alone takes.
  const gzip = createGzip({ level: 9, strategy: zlibConstants.Z_RLE });
  const chunks: Buffer[] = [];
  gzip.on('data', (chunk: Buffer) => chunks.push(chunk));
  const ended = new Promise((resolve, reject) => gzip.on('end', resolve).on('error', reject));
  gzip.write('{"id":"bomb","simpleFields":{"a":"');
  const block = Buffer.alloc(1024 * 1024, '0');
  for (let i = 0; i < mebibytes; i += 1) {
    if (!gzip.write(block)) await new Promise((resolve) => gzip.once('drain', resolve));
  }
  gzip.end('"}}');
  await ended;
  return Buffer.concat(chunks);
}

describe('readRecord bounds what a record may inflate to (issue 10 item 6, real ZooKeeper)', () => {
  const pinot = useSeededCluster('znodeio');

  it('refuses a 1 MB gzip bomb of 1,000 MiB without inflating it, off the event loop', async () => {
    const { seed, session } = pinot;
    const bomb = await gzipBomb(1000);
    expect(bomb.length).toBeLessThan(JUTE_MAX_BUFFER);
    const path = seed.paths.segmentMetadata('events_REALTIME', 'bomb');
    await seed.put(path, bomb);

    // Count event-loop turns and sample RSS while the read is in flight, and note the turn at which
    // ZooKeeper's answer arrived: inflating on the event loop leaves no turn between that and the end.
    let turns = 0;
    let turnAtArrival = -1;
    let spinning = true;
    const rssBefore = process.memoryUsage.rss();
    let rssPeak = rssBefore;
    const spin = (): void => {
      turns += 1;
      rssPeak = Math.max(rssPeak, process.memoryUsage.rss());
      if (spinning) setImmediate(spin);
    };
    const observed = new Proxy(session, {
      get(target, property) {
        if (property === 'getData') {
          return async (...args: Parameters<ZkSession['getData']>) => {
            const answer = await target.getData(...args);
            turnAtArrival = turns;
            return answer;
          };
        }
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    setImmediate(spin);
    const outcome = await readRecord(observed, path).then(
      () => null,
      (err: unknown) => err,
    );
    const turnAtEnd = turns;
    rssPeak = Math.max(rssPeak, process.memoryUsage.rss());
    spinning = false;

    expect(outcome).toBeInstanceOf(ZNRecordParseError);
    expect((outcome as Error).message).toBe(`${path}: gzip body inflates past the 64 MiB limit`);
    expect(turnAtArrival).toBeGreaterThanOrEqual(0);
    expect(turnAtEnd).toBeGreaterThan(turnAtArrival);
    expect(rssPeak - rssBefore).toBeLessThan(200 * 1024 * 1024);
  });

  it("applies the session's maxRecordBytes to gzip and plain records alike", async () => {
    const { seed } = pinot;
    expect(new ZkSession({ connectString: 'localhost:1' }).maxRecordBytes).toBe(DEFAULT_MAX_RECORD_BYTES);
    const small = await connectSession({ maxRecordBytes: 1024 });
    try {
      const json = Buffer.from(`{"id":"r","simpleFields":{"a":"${'x'.repeat(1000)}"}}`);
      const fits = Buffer.from('{"id":"r","simpleFields":{"a":"x"}}');
      const cases: Array<[name: string, bytes: Buffer, error: string | null]> = [
        ['plain', json, `record is ${json.length} bytes, past the 1024-byte limit`],
        ['gzip', gzipSync(json), 'gzip body inflates past the 1024-byte limit'],
        ['small-plain', fits, null],
        ['small-gzip', gzipSync(fits), null],
      ];
      for (const [name, bytes, error] of cases) {
        const path = seed.paths.segmentMetadata('events_REALTIME', name);
        await seed.put(path, bytes);
        if (error === null) expect((await readRecord(small, path))!.doc.record.simpleFields.a).toBe('x');
        else await expect(readRecord(small, path)).rejects.toThrow(`${path}: ${error}`);
      }
    } finally {
      await small.close();
    }
  });
});
