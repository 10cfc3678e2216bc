import { describe, expect, it } from 'vitest';
import { detectArchiveCodec } from '../../src/segments/archive-codec.js';

function tarHeaderWithMagic(magic: string): Buffer {
  const block = Buffer.alloc(512);
  block.write(magic, 257, 'latin1');
  return block;
}

describe('detectArchiveCodec', () => {
  it.each([
    ['gzip (Pinot header)', Buffer.from('1f8b0800000000000000ff', 'hex'), 'gzip'],
    ['zstd', Buffer.from('28b52ffd0058', 'hex'), 'zstd'],
    ['lz4 frame', Buffer.from('04224d1864', 'hex'), 'lz4'],
    ['POSIX tar', tarHeaderWithMagic('ustar\u000000'), 'tar'],
    ['GNU tar', tarHeaderWithMagic('ustar  \u0000'), 'tar'],
    ['empty', Buffer.alloc(0), 'unknown'],
    ['one gzip byte', Buffer.from([0x1f]), 'unknown'],
    ['text', Buffer.from('hello world'), 'unknown'],
    ['zeros', Buffer.alloc(512), 'unknown'],
  ])('%s → %s', (_label, head, expected) => {
    expect(detectArchiveCodec(head)).toBe(expected);
  });
});
