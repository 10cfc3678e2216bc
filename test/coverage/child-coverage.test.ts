import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { CoverageMapData, Range } from 'istanbul-lib-coverage';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/fixtures.js';
import { addChildCoverage, countAt, readRawCoverage, type RawFunction } from './child-coverage.js';

describe('countAt: the innermost V8 range containing an offset', () => {
  const fns: RawFunction[] = [
    { functionName: '', isBlockCoverage: true, ranges: [{ startOffset: 0, endOffset: 100, count: 1 }, { startOffset: 40, endOffset: 60, count: 0 }] },
    { functionName: 'inner', isBlockCoverage: true, ranges: [{ startOffset: 10, endOffset: 30, count: 3 }, { startOffset: 20, endOffset: 25, count: 2 }] },
  ];
  it.each([
    [5, 1],
    [10, 3],
    [22, 2],
    [25, 3],
    [45, 0],
    [60, 1],
    [100, null],
  ])('offset %i → %s', (offset, count) => {
    expect(countAt(fns, offset)).toBe(count);
  });
});

describe('addChildCoverage on a real child (tsx, NODE_V8_COVERAGE)', () => {
  it('adds the counts of what the child ran to the statements, functions and branches of the .ts source', async () => {
    const script = path.join(repoRoot, 'test/coverage/fixtures/branchy.ts');
    const dir = await mkdtemp(path.join(tmpdir(), 'child-coverage-'));
    try {
      const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: repoRoot, env: { PATH: process.env.PATH, NODE_V8_COVERAGE: dir }, stdio: 'ignore' });
      expect((await once(child, 'exit'))[0]).toBe(0);
      const at = (line: number, column: number, endLine = line, endColumn = column + 1): Range => ({ start: { line, column }, end: { line: endLine, column: endColumn } });
      // What vitest's report holds for the file (positions in the .ts source), all counts 0.
      const target: CoverageMapData = {
        [script]: {
          path: script,
          statementMap: { 0: at(3, 2), 1: at(7, 2), 2: at(11, 2), 3: at(12, 4), 4: at(14, 2), 5: at(17, 0) },
          fnMap: {
            0: { name: 'twice', decl: at(2, 16), loc: at(2, 0, 4, 1), line: 2 },
            1: { name: 'never', decl: at(6, 16), loc: at(6, 0, 8, 1), line: 6 },
            2: { name: 'pick', decl: at(10, 16), loc: at(10, 0, 15, 1), line: 10 },
          },
          branchMap: { 0: { type: 'if', loc: at(11, 2, 13, 3), locations: [at(11, 12, 13, 3), at(14, 2)], line: 11 } },
          s: { 0: 0, 1: 0, 2: 0, 3: 0, 4: 0, 5: 0 },
          f: { 0: 0, 1: 0, 2: 0 },
          b: { 0: [0, 0] },
        },
      };
      let merged = 0;
      for (const raw of await readRawCoverage(dir)) merged += addChildCoverage(target, raw);
      expect(merged).toBe(1);
      expect(target[script]).toMatchObject({ s: { 0: 2, 1: 0, 2: 1, 3: 1, 4: 0, 5: 1 }, f: { 0: 2, 1: 0, 2: 1 }, b: { 0: [1, 0] } });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
