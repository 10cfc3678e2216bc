import { describe, expect, it } from 'vitest';
import { encodeCreationMeta, parseCreationMeta } from '../../src/segments/creation-meta.js';
import { CorruptSegmentError } from '../../src/segments/errors.js';

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

  it.each([0, 1, 8, 15, 17, 23, 25, 32])('rejects %i bytes as corrupt', (size) => {
    expect(() => parseCreationMeta(Buffer.alloc(size), '/x/creation.meta')).toThrow(CorruptSegmentError);
  });

  it.each([
    ['negative crc', longs(-1n, 1n)],
    ['crc above 32 bits', longs(4294967296n, 1n)],
    ['negative dataCrc', longs(1n, 1n, -1n)],
    ['creationTime beyond 2^53', longs(1n, 2n ** 60n)],
  ])('rejects %s', (_label, bytes) => {
    expect(() => parseCreationMeta(bytes)).toThrow(CorruptSegmentError);
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
