const MOD = 65521;
/**
 * zlib's NMAX: the most bytes that can be summed before `b` could exceed 2^32 - 1 starting from
 * values below MOD. Taking the modulo once per block instead of once per byte is what makes the loop
 * fast; the bound keeps the deferred sums well inside the exact range of a double.
 */
const NMAX = 5552;

/**
 * Incremental Adler-32 (RFC 1950), the checksum behind Pinot's segment CRC (CrcUtils uses java.util.zip.Adler32;
 * Node 20 has none built in): feed chunks in order, read `value` at any time. Pure: no I/O.
 */
export class Adler32 {
  private a = 1;
  private b = 0;

  update(chunk: Uint8Array): this {
    let a = this.a;
    let b = this.b;
    const length = chunk.length;
    let i = 0;
    while (i < length) {
      const end = Math.min(i + NMAX, length);
      for (; i < end; i++) {
        a += chunk[i]!;
        b += a;
      }
      a %= MOD;
      b %= MOD;
    }
    this.a = a;
    this.b = b;
    return this;
  }

  /** The checksum as an unsigned 32-bit number (`>>> 0`, since `b << 16` can set the sign bit). */
  get value(): number {
    return ((this.b << 16) | this.a) >>> 0;
  }
}

export function adler32(data: Uint8Array): number {
  return new Adler32().update(data).value;
}
