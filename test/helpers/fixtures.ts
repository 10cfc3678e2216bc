import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Real Pinot artifacts live in ../shared/fixtures/pinot beside the clone and are never copied into
 * the repository. A user's fresh clone has no ../shared: tests that need it skip and say why.
 */
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export const pinotFixturesDir =
  process.env.PINOT_SIDECAR_FIXTURES ?? path.resolve(repoRoot, '../shared/fixtures/pinot');

export const hasPinotFixtures = existsSync(pinotFixturesDir);

/** Suffix for describe() titles so a skip explains itself in the report. */
export const fixturesSkipNote = hasPinotFixtures
  ? ''
  : ` (skipped: ${pinotFixturesDir} is absent; it holds Apache Pinot's own fixtures and exists only beside the project's shared folder)`;

export function pinotFixture(name: string): string {
  return path.join(pinotFixturesDir, name);
}

export { repoRoot };
