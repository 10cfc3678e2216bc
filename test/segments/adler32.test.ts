import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Adler32, adler32 } from '../../src/segments/adler32.js';

/** The textbook definition, one modulo per byte. */
function naiveAdler32(data: Uint8Array): number {
  let a = 1;
  let b = 0;
  for (const byte of data) {
    a = (a + byte) % 65521;
    b = (b + a) % 65521;
  }
  return b * 65536 + a;
}

/** Deterministic pseudo-random bytes (sha256 in counter mode), so failures reproduce. */
function bytes(length: number, seed: string): Buffer {
  const out = Buffer.alloc(length);
  for (let offset = 0, i = 0; offset < length; i++) {
    offset += createHash('sha256').update(`${seed}:${i}`).digest().copy(out, offset);
  }
  return out;
}

describe('adler32', () => {
  it.each([
    ['empty', '', 1],
    ['a', 'a', 0x00620062],
    ['abc', 'abc', 0x024d0127],
    ['Wikipedia', 'Wikipedia', 0x11e60398],
    ['alphabet', 'abcdefghijklmnopqrstuvwxyz', 0x90860b20],
  ])('%s → known value', (_label, text, expected) => {
    expect(adler32(Buffer.from(text))).toBe(expected);
  });

  it('is unsigned when the high bit of b is set', () => {
    // 16 bytes of 0xff: a = 4081, b = 34696 ≥ 2^15, so (b << 16) alone would be negative.
    const value = adler32(Buffer.alloc(16, 0xff));
    expect(value).toBe(34696 * 65536 + 4081);
    expect(value).toBeGreaterThan(0x7fffffff);
  });

  it.each([0, 1, 5551, 5552, 5553, 11104, 100_000])(
    'matches the naive definition on %i bytes of 0xff (deferred modulo bound)',
    (n) => {
      const data = Buffer.alloc(n, 0xff);
      expect(adler32(data)).toBe(naiveAdler32(data));
    },
  );

  it('gives the same value fed in any chunking', () => {
    const data = bytes(300_000, 'chunking');
    const whole = adler32(data);
    expect(whole).toBe(naiveAdler32(data));
    for (const chunkSize of [1, 7, 5552, 65_536, 299_999]) {
      const sum = new Adler32();
      for (let i = 0; i < data.length; i += chunkSize) sum.update(data.subarray(i, i + chunkSize));
      expect(sum.value).toBe(whole);
    }
  });
});
