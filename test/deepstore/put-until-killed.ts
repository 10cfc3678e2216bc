/**
 * A sidecar's put() that never finishes, for a test to SIGKILL mid-write (test/deepstore/sweep-stale-temps.test.ts):
 *
 *   node --import tsx test/deepstore/put-until-killed.ts <file:///base> <rawTable> <segment> <bytesBeforeStall>
 *
 * Writes `bytesBeforeStall` bytes of the body, then waits forever with the temp file open.
 */
import { FileDeepStore } from '../../src/deepstore/file-deep-store.js';
import { PatternSource } from './support.js';

const [baseUri = '', table = '', segment = '', stallAfter = '0'] = process.argv.slice(2);
const store = new FileDeepStore(baseUri);
const body = new PatternSource(Number.MAX_SAFE_INTEGER, { stallAfter: Number(stallAfter) });
store.put(store.segmentUri(table, segment), body, { crc: '1' }).then(
  () => process.exit(2), // never: the body never ends
  (err: unknown) => {
    process.stderr.write(`put failed: ${String(err)}\n`);
    process.exit(3);
  },
);
setInterval(() => {}, 1 << 30); // the pending put alone would not keep the process alive
