import { describe, expect, it } from 'vitest';
import { Header } from 'tar';
import {
  encodeEntryHeader,
  endOfArchive,
  entryArchiveSize,
  paddingAfter,
  TAR_BLOCK,
  type TarEntryInfo,
} from '../../src/segments/tar-format.js';

const base: TarEntryInfo = {
  path: 'seg/',
  kind: 'directory',
  mode: 0o755,
  uid: 1000,
  gid: 1000,
  size: 0,
  mtime: new Date(1_700_000_000_000),
};

function field(block: Buffer, offset: number, length: number): string {
  const raw = block.subarray(offset, offset + length);
  const nul = raw.indexOf(0);
  return raw.subarray(0, nul === -1 ? length : nul).toString('latin1');
}

function checksumOk(block: Buffer): boolean {
  let sum = 8 * 0x20;
  for (let i = 0; i < 512; i++) if (i < 148 || i >= 156) sum += block[i]!;
  return parseInt(field(block, 148, 8).trim(), 8) === sum;
}

describe('encodeEntryHeader', () => {
  it('writes a plain ustar header for a directory', () => {
    const block = encodeEntryHeader(base);
    expect(block.length).toBe(TAR_BLOCK);
    expect(field(block, 0, 100)).toBe('seg/');
    expect(String.fromCharCode(block[156]!)).toBe('5');
    expect(block.subarray(257, 265).toString('latin1')).toBe('ustar\u000000');
    expect(parseInt(field(block, 100, 8), 8)).toBe(0o755);
    expect(parseInt(field(block, 124, 12), 8)).toBe(0);
    expect(parseInt(field(block, 136, 12), 8)).toBe(1_700_000_000);
    expect(checksumOk(block)).toBe(true);
  });

  it('writes a file header with its size', () => {
    const block = encodeEntryHeader({ ...base, path: 'seg/v3/columns.psf', kind: 'file', mode: 0o644, size: 123_456 });
    expect(String.fromCharCode(block[156]!)).toBe('0');
    expect(parseInt(field(block, 124, 12), 8)).toBe(123_456);
    expect(checksumOk(block)).toBe(true);
  });

  it('a directory header never carries a size', () => {
    const block = encodeEntryHeader({ ...base, size: 4096 });
    expect(parseInt(field(block, 124, 12), 8)).toBe(0);
  });

  it('splits a 150-byte path into the ustar prefix without a PAX header', () => {
    const path = `${'s'.repeat(120)}/v3/columns.psf`;
    const block = encodeEntryHeader({ ...base, path, kind: 'file', size: 1 });
    expect(block.length).toBe(TAR_BLOCK);
    expect(`${field(block, 345, 155)}/${field(block, 0, 100)}`).toBe(path);
  });

  it('puts a path that does not fit ustar into a PAX header first', () => {
    const path = `${'s'.repeat(200)}/${'f'.repeat(120)}.fwd`;
    const blocks = encodeEntryHeader({ ...base, path, kind: 'file', size: 10 });
    expect(blocks.length % TAR_BLOCK).toBe(0);
    expect(blocks.length).toBeGreaterThan(TAR_BLOCK);
    expect(String.fromCharCode(blocks[156]!)).toBe('x');
    expect(blocks.subarray(TAR_BLOCK, blocks.length - TAR_BLOCK).toString('utf8')).toContain(` path=${path}\n`);
    const last = blocks.subarray(blocks.length - TAR_BLOCK);
    expect(String.fromCharCode(last[156]!)).toBe('0');
    expect(new Header(last).size).toBe(10);
  });

  it('encodes a size of 8 GiB or more with a PAX size record', () => {
    const size = 9 * 1024 ** 3 + 5;
    const blocks = encodeEntryHeader({ ...base, path: 'seg/v3/columns.psf', kind: 'file', size });
    expect(blocks.subarray(TAR_BLOCK).toString('utf8')).toContain(` size=${size}\n`);
  });
});

describe('padding and end of archive', () => {
  it.each([
    [0, 0],
    [1, 511],
    [511, 1],
    [512, 0],
    [513, 511],
    [1024 * 1024, 0],
  ])('a %i-byte file gets %i bytes of zero padding', (size, padding) => {
    const pad = paddingAfter(size);
    expect(pad.length).toBe(padding);
    expect(pad.every((b) => b === 0)).toBe(true);
  });

  it('ends with exactly two zero blocks (no 10240-byte record padding)', () => {
    const end = endOfArchive();
    expect(end.length).toBe(1024);
    expect(end.every((b) => b === 0)).toBe(true);
  });

  it.each([
    [{ kind: 'directory', size: 0 } as const, 512],
    [{ kind: 'file', size: 0 } as const, 512],
    [{ kind: 'file', size: 1 } as const, 1024],
    [{ kind: 'file', size: 1025 } as const, 512 + 1536],
  ])('entryArchiveSize(%j) = %i', (entry, expected) => {
    expect(entryArchiveSize(Buffer.alloc(512), entry)).toBe(expected);
  });
});
