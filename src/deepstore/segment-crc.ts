import { isSegmentCrc } from '../pinot-format/index.js';
import { invalidArgument } from './errors.js';

/** Refuses a CRC that is not in the exact form of ZK `segment.crc` (it becomes object metadata, compared as text). */
export function assertSegmentCrc(value: string): void {
  if (!isSegmentCrc(value)) {
    throw invalidArgument(
      'InvalidCrc',
      `segment CRC must be an unsigned 32-bit decimal string, got ${JSON.stringify(value)}`,
    );
  }
}
