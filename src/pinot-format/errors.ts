import { SidecarError } from '../errors.js';

/**
 * A `creation.meta` that is not what BaseSegmentCreator.persistCreationMeta writes. `reason` says what is
 * wrong with the bytes; the caller knows which file they came from and says so in its own error.
 */
export class CreationMetaError extends SidecarError {
  constructor(readonly reason: string) {
    super(`malformed creation.meta: ${reason}`);
  }
}
