// Pinot's on-disk conventions for a table's data directory. Pure: no I/O.

/**
 * Directories next to segments that are never segments we may serve, even if they happen to hold a
 * `creation.meta` (a half-written download, a backup taken during reload):
 * - `tmp` (BaseTableDataManager `_resourceTmpDir`) and `_tmp` (RealtimeSegmentDataManager);
 * - `tmp-<segment>-<uuid>` (BaseTableDataManager.getTmpSegmentDataDir, downloads in progress);
 * - `<segment>.segment.tmp` / `<segment>.segment.bak` (CommonConstants.Segment SEGMENT_TEMP_DIR_SUFFIX and
 *   SEGMENT_BACKUP_DIR_SUFFIX, used while reloading), and any other `*.tmp` / `*.bak`;
 * - `<segment>.tmp.<uuid>` (SegmentCompletionUtils.generateTmpSegmentFileName).
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
