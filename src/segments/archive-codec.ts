export type ArchiveCodec = 'gzip' | 'zstd' | 'lz4' | 'tar' | 'unknown';

/** How many leading bytes detectArchiveCodec needs to tell an uncompressed tar. */
export const CODEC_SNIFF_BYTES = 263;

const MAGICS: ReadonlyArray<readonly [ArchiveCodec, readonly number[]]> = [
  ['gzip', [0x1f, 0x8b]],
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
  ['lz4', [0x04, 0x22, 0x4d, 0x18]],
];

/** POSIX and GNU tar headers both carry `ustar` at offset 257. */
const TAR_MAGIC_OFFSET = 257;
const TAR_MAGIC = [...Buffer.from('ustar', 'latin1')];

/**
 * What kind of archive a file is, from its first bytes. Pinot decides the same way, whatever the
 * extension or URI (TarCompressionUtils untar → CompressorStreamFactory.detect; the deep-store object
 * has no extension at all: docs/pinot-interop.md, "Archive format"). Pure: no I/O.
 */
export function detectArchiveCodec(head: Uint8Array): ArchiveCodec {
  for (const [codec, magic] of MAGICS) {
    if (startsWithAt(head, 0, magic)) return codec;
  }
  return startsWithAt(head, TAR_MAGIC_OFFSET, TAR_MAGIC) ? 'tar' : 'unknown';
}

function startsWithAt(bytes: Uint8Array, offset: number, magic: readonly number[]): boolean {
  if (bytes.length < offset + magic.length) return false;
  return magic.every((byte, i) => bytes[offset + i] === byte);
}
