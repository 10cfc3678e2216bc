// Deep-store repair (docs/architecture.md, "A repair"): the Reconciler and the pieces an operator-facing layer
// needs (status types). Pure policy lives in decide.ts, eligibility.ts and backoff.ts.

export { Reconciler, type PassSummary, type ReconcilerOptions } from './reconciler.js';
export type { HostedView } from './hosted-view.js';
export { REPAIR_STATES, type RepairStateName, type RepairStatus, type RepairStatusSegment } from './repair-state.js';
export { DEFAULT_BACKOFF, type BackoffPolicy } from './backoff.js';
export { checkEligibility, checkMetadata, repairInterest, type Eligibility, type SkipReason } from './eligibility.js';
export { DEFAULT_SIDECAR_ROOT, defaultLockRoot, lockRootUnder } from './upload-lock.js';
export { ReconcilerStoppedError } from './errors.js';
