// The bytes of a tar archive in the shape Pinot reads (TarCompressionUtils; docs/pinot-interop.md,
// "Archive format"): ustar headers, file data padded to 512-byte blocks, two zero blocks at the end and no padding to
// 10240 bytes. Headers are encoded by node-tar's Header; a name that does not fit ustar's 100+155
// bytes, or a size of 8 GiB or more, gets a PAX extended header first. Pinot writes GNU LongLink
// entries instead, but its reader (commons-compress TarArchiveInputStream) and GNU tar read PAX, and
// node-tar also encodes oversized numbers in base-256 (commons-compress BIGNUMBER_STAR reads those).
// Pure: no I/O.

import { Header, Pax } from 'tar';

export const TAR_BLOCK = 512;

export interface TarEntryInfo {
  /** Path inside the archive, POSIX, directories ending in `/`. */
  path: string;
  kind: 'directory' | 'file';
  /** Permission bits (st_mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** File length; 0 for directories. */
  size: number;
  mtime: Date;
}

/** The header block(s) of one entry: an optional PAX header, then the ustar header. */
export function encodeEntryHeader(entry: TarEntryInfo): Buffer {
  const data = {
    path: entry.path,
    mode: entry.mode,
    uid: entry.uid,
    gid: entry.gid,
    size: entry.kind === 'file' ? entry.size : 0,
    mtime: entry.mtime,
    type: entry.kind === 'file' ? ('File' as const) : ('Directory' as const),
    uname: '',
    gname: '',
  };
  const header = new Header(data);
  const needPax = header.encode();
  const block = header.block;
  if (block === undefined) throw new Error('node-tar did not produce a header block');
  if (!needPax) return block;
  return Buffer.concat([
    new Pax({ path: data.path, size: data.size, mtime: data.mtime, uid: data.uid, gid: data.gid }).encode(),
    block,
  ]);
}

/** Zero bytes that complete a file's last data block. */
export function paddingAfter(size: number): Buffer {
  const remainder = size % TAR_BLOCK;
  return Buffer.alloc(remainder === 0 ? 0 : TAR_BLOCK - remainder);
}

/** Two zero blocks: the end-of-archive marker. */
export function endOfArchive(): Buffer {
  return Buffer.alloc(2 * TAR_BLOCK);
}

/** Bytes an entry takes in the archive, given its encoded header. */
export function entryArchiveSize(header: Buffer, entry: Pick<TarEntryInfo, 'kind' | 'size'>): number {
  if (entry.kind !== 'file') return header.length;
  return header.length + entry.size + paddingAfter(entry.size).length;
}
