import { access, constants, stat } from 'node:fs/promises';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { ConfigError } from './config.js';

/** How often a data dir that is missing (or a present one, in case it goes) is looked at again. */
export const DATA_DIR_CHECK_INTERVAL_MS = 10_000;

export type DataDirState = { present: true } | { present: false; reason: string };

/**
 * The server's data dir, as `serve` needs it. A data dir that does not exist yet is normal on a fresh volume: the
 * server creates it when it starts, and a native sidecar starts before the server. So a missing one is waited
 * for, however long it takes (checked every DATA_DIR_CHECK_INTERVAL_MS; readiness fails and the sidecar says why
 * meanwhile); something there that is not a readable directory is a configuration error (exit 2 before listening).
 */
export async function inspectDataDir(dir: string): Promise<DataDirState> {
  let info;
  try {
    info = await stat(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      return {
        present: false,
        reason: `data dir ${dir} does not exist yet (the Pinot server creates it when it starts; waiting for it)`,
      };
    }
    throw new ConfigError([`--data-dir (PINOT_SIDECAR_DATA_DIR): cannot stat ${dir}: ${errorMessage(err)}`]);
  }
  try {
    if (!info.isDirectory()) throw new Error('not a directory');
    await access(dir, constants.R_OK | constants.X_OK);
  } catch (err) {
    throw new ConfigError([
      `--data-dir (PINOT_SIDECAR_DATA_DIR): ${dir} is not a readable directory: ${errorMessage(err)}`,
    ]);
  }
  return { present: true };
}

/**
 * Pinot creates a tier's data dir when it first moves a segment there (TierBasedSegmentDirectoryLoader), so
 * one that does not exist yet is normal and its segments are served once it appears. Something there that is
 * not a readable directory is a configuration error, as for --data-dir.
 */
export async function checkTierDataDirs(dirs: readonly string[], logger: Logger): Promise<void> {
  const problems: string[] = [];
  for (const dir of dirs) {
    try {
      const info = await stat(dir);
      if (!info.isDirectory()) throw new Error('not a directory');
      await access(dir, constants.R_OK | constants.X_OK);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        logger.info(
          { tierDataDir: dir },
          'tier data dir does not exist yet; its segments are served once Pinot moves segments there',
        );
        continue;
      }
      problems.push(
        `--tier-data-dir (PINOT_SIDECAR_TIER_DATA_DIRS): ${dir} is not a readable directory: ${errorMessage(err)}`,
      );
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
}
