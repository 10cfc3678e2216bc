import { describe, expect, it } from 'vitest';
import {
  crcFromCreationMeta,
  CreationMetaError,
  encodeCreationMeta,
  isCreationMetaEntry,
  parseCreationMeta,
} from '../../src/pinot-format/index.js';

function longs(...values: bigint[]): Buffer {
  const out = Buffer.alloc(values.length * 8);
  values.forEach((v, i) => out.writeBigInt64BE(v, i * 8));
  return out;
}

describe('parseCreationMeta', () => {
  it('reads the 24-byte form (crc, creationTime, dataCrc) of the legacyRawInverted fixture', () => {
    expect(parseCreationMeta(longs(1299627447n, 1777871824473n, 1677886853n))).toEqual({
      crc: 1299627447,
      crcString: '1299627447',
      creationTime: 1777871824473,
      dataCrc: 1677886853,
    });
  });

  it('reads the 16-byte form without a data CRC', () => {
    expect(parseCreationMeta(longs(2641412145n, 1468780127653n))).toEqual({
      crc: 2641412145,
      crcString: '2641412145',
      creationTime: 1468780127653,
      dataCrc: undefined,
    });
  });

  it.each([
    ['0', 0n],
    ['2^31 (would be negative as int32)', 2147483648n],
    ['2^32 - 1', 4294967295n],
  ])('keeps crc %s unsigned, with the decimal string ZK segment.crc uses', (_label, crc) => {
    const meta = parseCreationMeta(longs(crc, 1n));
    expect(meta.crc).toBe(Number(crc));
    expect(meta.crcString).toBe(crc.toString());
  });

  it('reads from a view into a larger buffer', () => {
    const backing = Buffer.concat([Buffer.from('junk-before'), longs(7n, 8n)]);
    expect(parseCreationMeta(backing.subarray(11))).toMatchObject({ crc: 7, creationTime: 8 });
  });

  it.each([0, 1, 8, 15, 17, 23, 25, 32])('rejects %i bytes, saying so', (size) => {
    expect(() => parseCreationMeta(Buffer.alloc(size))).toThrow(
      new CreationMetaError(`creation.meta is ${size} bytes, expected 16 or 24`),
    );
  });

  it.each([
    ['negative crc', longs(-1n, 1n)],
    ['crc above 32 bits', longs(4294967296n, 1n)],
    ['negative dataCrc', longs(1n, 1n, -1n)],
    ['creationTime beyond 2^53', longs(1n, 2n ** 60n)],
  ])('rejects %s', (_label, bytes) => {
    expect(() => parseCreationMeta(bytes)).toThrow(CreationMetaError);
  });
});

describe('encodeCreationMeta', () => {
  it.each([
    { crc: 1299627447, creationTime: 1777871824473, dataCrc: 1677886853 },
    { crc: 4294967295, creationTime: 0, dataCrc: undefined },
  ])('round-trips %j', (meta) => {
    const bytes = encodeCreationMeta(meta);
    expect(bytes.length).toBe(meta.dataCrc === undefined ? 16 : 24);
    expect(parseCreationMeta(bytes)).toMatchObject(meta);
  });

  it('writes big-endian int64s', () => {
    expect(encodeCreationMeta({ crc: 1, creationTime: 2, dataCrc: 3 }).toString('hex')).toBe(
      '000000000000000100000000000000020000000000000003',
    );
  });
});

describe('crcFromCreationMeta (the crc field alone, for archives read only that far)', () => {
  it.each([
    [longs(1299627447n, 1777871824473n, 1677886853n), '1299627447'], // 24 bytes (1.5.0+, with dataCrc)
    [longs(2641412145n, 1468780127653n), '2641412145'], // 16 bytes
    [longs(0n, 1n), '0'],
    [longs(4294967295n, 1n), '4294967295'], // the largest unsigned 32-bit value
    [longs(-1n, 1n), '-1'], // never written by Pinot; String.valueOf(long) would say "-1" too
    [longs(42n), '42'], // only the field is read
    [Buffer.alloc(7), null],
    [Buffer.alloc(0), null],
  ])('%#', (bytes, expected) => {
    expect(crcFromCreationMeta(bytes)).toBe(expected);
  });

  it('reads from a view into a larger buffer', () => {
    const big = Buffer.concat([Buffer.from('xx'), longs(42n, 1n)]);
    expect(crcFromCreationMeta(big.subarray(2))).toBe('42');
  });
});

describe('isCreationMetaEntry', () => {
  it.each([
    ['seg/creation.meta', true],
    ['seg/v3/creation.meta', true],
    ['./seg/creation.meta', true],
    ['creation.meta', false], // no segment folder
    ['seg/v2/creation.meta', false],
    ['seg/sub/v3/creation.meta', false],
    ['seg/creation.meta.bak', false],
    ['seg/creation.meta/', false],
  ])('%j → %s', (entry, expected) => {
    expect(isCreationMetaEntry(entry)).toBe(expected);
  });
});
