import type {
  ClusterSettings,
  HostedSegment,
  HostedSegmentChange,
  TableSettings,
  VersionedRecord,
} from '../../helix/index.js';

/**
 * What the repair uses of the hosted-segment tracker (helix HostedSegments): its cached view of what this server
 * hosts, and the events that say the view changed. The reconciler depends on this and not on the class, so what it
 * decides can be exercised against a view made by hand.
 */
export interface HostedView {
  /** True once a sync has completed and nothing waits to be read: a `change` outside a sync is taken at once. */
  readonly synced: boolean;
  readonly clusterSettings: ClusterSettings;
  get(table: string, segment: string): HostedSegment | undefined;
  /** The segment's record as last read while its watch stands, or null (see HostedSegments.watchedRecord). */
  watchedRecord(table: string, segment: string): VersionedRecord | null;
  segments(table: string): ReadonlyMap<string, HostedSegment>;
  all(): Iterable<HostedSegment>;
  tableSettings(table: string): TableSettings | null | undefined;
  on(event: 'change', listener: (change: HostedSegmentChange) => void): unknown;
  /** A table's settings were read or changed, or the table left the server (settings null). */
  on(event: 'tableSettings', listener: (table: string, settings: TableSettings | null) => void): unknown;
  /** Every dirty node has been read: the view is consistent (a segment and its metadata are seen together). */
  on(event: 'synced', listener: () => void): unknown;
  off(event: 'change', listener: (change: HostedSegmentChange) => void): unknown;
  off(event: 'tableSettings', listener: (table: string, settings: TableSettings | null) => void): unknown;
  off(event: 'synced', listener: () => void): unknown;
}
