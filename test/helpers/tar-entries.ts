import { gzipSync } from 'node:zlib';
import { Header } from 'tar';

/**
 * Tar archives with exactly the entries a test asks for, including the ones no well-behaved writer produces
 * (`../` paths, absolute paths, links, a file before its directory). Headers are encoded by node-tar's Header,
 * with no sanitising: the bytes say what the test wrote.
 */
export interface RawEntry {
  path: string;
  type?: 'File' | 'Directory' | 'SymbolicLink' | 'Link' | 'FIFO';
  body?: Buffer | string;
  linkpath?: string;
}

const BLOCK = 512;

export function rawTar(entries: RawEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const entry of entries) {
    const type = entry.type ?? (entry.path.endsWith('/') ? 'Directory' : 'File');
    const body = Buffer.from(entry.body ?? '');
    const size = type === 'File' ? body.length : 0;
    const header = new Header({
      path: entry.path,
      type,
      size,
      mode: type === 'Directory' ? 0o755 : 0o644,
      uid: 0,
      gid: 0,
      mtime: new Date(1_700_000_000_000),
      ...(entry.linkpath === undefined ? {} : { linkpath: entry.linkpath }),
    });
    header.encode();
    if (header.block === undefined) throw new Error(`node-tar did not encode ${entry.path}`);
    blocks.push(header.block);
    if (size > 0) blocks.push(body, Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK));
  }
  blocks.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(blocks);
}

/** rawTar, gzipped: the shape of a segment archive on the wire. */
export function rawTarGz(entries: RawEntry[]): Buffer {
  return gzipSync(rawTar(entries));
}
