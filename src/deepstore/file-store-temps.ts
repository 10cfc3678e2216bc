// Where the file store's put() writes a segment before renaming it into place, and how its sweep knows what
// it may remove. Pure.
//
// Temp files live in a folder of the sidecar's own at the base of the store, never in a table folder. In a
// table folder no temp name can be told apart from a segment's: a segment's file name is its decoded name,
// and Pinot allows any segment name without "/" (a segment named `<x>.sidecar-tmp.<uuid>`, the old temp
// shape, was stored under exactly that name and then swept as a temp file). What sits in the temp folder is
// the sidecar's by construction, and the sweep never looks into a table folder, where Pinot's own temp files
// live too (`<segment>.tmp.<uuid>`, SegmentCompletionUtils; a DONE segment's URL may even point at one).

/**
 * The temp folder, `<base>/.pinot-sidecar.tmp`. The name has two dots so that no Pinot table can own it: a
 * table's deep-store folder is its raw table name, and every table config goes through
 * TableConfigUtils.validateTableName, which refuses more than one '.' (only a database-qualified `db.table`
 * has one; older versions refuse any '.'). One dot would not do: `.pinot-sidecar-tmp` passes that check,
 * and DatabaseUtils.translateTableName does not refuse its empty database part either (StringUtils.split
 * drops the empty token before the '.'). Hidden (a leading dot), so that a listing of the store shows the
 * tables. Pinot keeps a folder of its own beside the table folders as well (`Deleted_Segments`,
 * SegmentDeletionManager).
 */
export const TEMP_FOLDER = '.pinot-sidecar.tmp';

const TEMP_SUFFIX = '.part';
// crypto.randomUUID(): version 4, RFC 4122 variant, lower-case hex.
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/**
 * The name of one put()'s temp file in TEMP_FOLDER: `<uuid v4>.part`. Not the segment's name: the folder is
 * shared by all tables, and a segment name of up to NAME_MAX bytes plus anything would not fit in a file name.
 */
export function tempFileName(uuid: string): string {
  return `${uuid}${TEMP_SUFFIX}`;
}

/** True for exactly the names tempFileName() makes with crypto.randomUUID(): what the sweep may remove. */
export function isTempFileName(name: string): boolean {
  return name.endsWith(TEMP_SUFFIX) && UUID_V4.test(name.slice(0, -TEMP_SUFFIX.length));
}
