import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/fixtures.js';

/**
 * The summary line CI reads must count every way a run fails. Each fixture under reporter-fixtures/ is run by a
 * real vitest in a child process with only the summary reporter, and its last line is checked.
 */
const run = promisify(execFile);
const vitest = path.join(repoRoot, 'node_modules/vitest/vitest.mjs');
const config = path.join(repoRoot, 'test/setup/reporter-fixtures/vitest.config.ts');

async function summaryOf(fixture: string): Promise<{ line: string; exitCode: number }> {
  const result = await run(process.execPath, [vitest, 'run', '--config', config], {
    cwd: repoRoot,
    env: { ...process.env, REPORTER_FIXTURE: `${fixture}.fixture.ts`, CI: 'true' },
  }).then(
    ({ stdout }) => ({ stdout, exitCode: 0 }),
    (err: { stdout: string; code: number }) => ({ stdout: err.stdout, exitCode: err.code }),
  );
  const lines = result.stdout.trim().split('\n');
  return { line: lines[lines.length - 1] ?? '', exitCode: result.exitCode };
}

describe('summary reporter', () => {
  it.each([
    { fixture: 'passing', line: '1 passed, 0 failed, 1 skipped', exitCode: 0 },
    { fixture: 'uncaught', line: '1 passed, 1 failed, 0 skipped', exitCode: 1 },
    { fixture: 'before-all', line: '0 passed, 1 failed, 2 skipped', exitCode: 1 },
    { fixture: 'after-all', line: '1 passed, 1 failed, 0 skipped', exitCode: 1 },
  ])('$fixture → "$line"', async ({ fixture, line, exitCode }) => {
    expect(await summaryOf(fixture)).toEqual({ line, exitCode });
  });
});
