import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isTempFileName, TEMP_FOLDER, tempFileName } from '../../src/deepstore/file-store-temps.js';

describe('TEMP_FOLDER', () => {
  it('has two dots: TableConfigUtils.validateTableName refuses that as a table name, so no table folder is named so', () => {
    expect(TEMP_FOLDER).toBe('.pinot-sidecar.tmp');
    expect(TEMP_FOLDER.split('.').length - 1).toBeGreaterThan(1);
  });
});

describe('tempFileName / isTempFileName', () => {
  const uuid = '123e4567-e89b-42d3-a456-426614174000';

  it('is <uuid>.part: no segment name in it (one folder for all tables, and no risk of a name over NAME_MAX)', () => {
    expect(tempFileName(uuid)).toBe(`${uuid}.part`);
  });

  it.each([
    [tempFileName(randomUUID()), true],
    [`${uuid}.part`, true],
    [uuid, false], // no suffix
    [`${uuid.toUpperCase()}.part`, false], // randomUUID() is lower-case
    ['123e4567-e89b-12d3-a456-426614174000.part', false], // not version 4
    [`${uuid}.part.bak`, false],
    [`seg.${uuid}.part`, false],
    [`seg.sidecar-tmp.${uuid}`, false], // the old in-table-folder shape: never swept any more
    [`seg.tmp.${uuid}`, false], // Pinot's own
    ['.part', false],
    ['seg', false],
  ])('%j → %s', (name, expected) => {
    expect(isTempFileName(name)).toBe(expected);
  });
});
