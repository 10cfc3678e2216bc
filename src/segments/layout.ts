/**
 * Pinot's on-disk conventions for a table's data directory. Pure: no I/O.
 */

/** V1Constants.SEGMENT_CREATION_META: its presence is what makes a segment directory sealed. */
export const CREATION_META = 'creation.meta';

/** SegmentDirectoryPaths.V3_SUBDIRECTORY_NAME. */
export const V3_DIR = 'v3';

/**
 * Where `creation.meta` may live, relative to the segment directory, in the order Pinot looks:
 * SegmentDirectoryPaths.findFormatFile tries `v3/` first, then the top level.
 */
export const CREATION_META_CANDIDATES: ReadonlyArray<readonly string[]> = [[V3_DIR, CREATION_META], [CREATION_META]];

/**
 * Directories next to segments that are never segments we may serve, even if they happen to hold a
 * `creation.meta` (a half-written download, a backup taken during reload):
 * - `tmp` (BaseTableDataManager `_resourceTmpDir`) and `_tmp` (RealtimeSegmentDataManager);
 * - `tmp-<segment>-<uuid>` (BaseTableDataManager.getTmpSegmentDataDir, downloads in progress);
 * - `<segment>.segment.tmp` / `<segment>.segment.bak` (CommonConstants.Segment SEGMENT_TEMP_DIR_SUFFIX and
 *   SEGMENT_BACKUP_DIR_SUFFIX, used while reloading), and any other `*.tmp` / `*.bak`;
 * - `<segment>.tmp.<uuid>` (SegmentCompletionUtils.generateTmpSegmentFileName, pinot-protocol.md §4.2/§12.4).
 */
export function isTransientDirName(name: string): boolean {
  return (
    name === 'tmp' ||
    name === '_tmp' ||
    name.startsWith('tmp-') ||
    name.endsWith('.tmp') ||
    name.endsWith('.bak') ||
    name.includes('.tmp.')
  );
}
