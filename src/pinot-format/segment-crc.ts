// ZK `segment.crc` (CommonConstants.Segment.CRC): SegmentMetadata.getCrc(), i.e. String.valueOf(long) of the
// unsigned 32-bit Adler-32 in `creation.meta`. Pure.

const MAX_CRC = 0xffff_ffff;

/** True for the exact form Pinot writes: an unsigned 32-bit value in decimal, without sign or leading zeros. */
export function isSegmentCrc(value: string): boolean {
  return /^(0|[1-9][0-9]{0,9})$/.test(value) && Number(value) <= MAX_CRC;
}

/**
 * A `segment.crc` as read from ZooKeeper, in Pinot's form (leading zeros dropped, as Long.parseLong then
 * String.valueOf would), or null when the value is absent or is no unsigned 32-bit decimal.
 */
export function readSegmentCrc(value: string | undefined): string | null {
  if (value === undefined || !/^\d{1,10}$/.test(value)) return null;
  const n = Number(value);
  return n <= MAX_CRC ? String(n) : null;
}
