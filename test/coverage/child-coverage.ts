import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generatedPositionFor, GREATEST_LOWER_BOUND, LEAST_UPPER_BOUND, TraceMap, type SourceMapInput } from '@jridgewell/trace-mapping';
import type { CoverageMapData, FileCoverageData, Position } from 'istanbul-lib-coverage';

/**
 * Coverage of the sidecar processes the tests spawn (serve, shutdown, demo, chaos), added to vitest's own.
 *
 * vitest's v8 provider profiles its workers only; a child started with NODE_V8_COVERAGE=<dir> writes V8's raw
 * block coverage there when it exits (process.exit or a normal end; not when SIGKILLed). Those children run
 * src/ through tsx, so their offsets are in tsx's output, which is not kept; Node keeps what is needed instead
 * ('source-map-cache': the line lengths of the generated code and tsx's source map back to the .ts source).
 *
 * c8's method, onto vitest's statements: vitest's report already has every statement, function and branch of
 * each src/ file, located in the .ts source. For each, the position is mapped to tsx's generated code, and the
 * V8 count there (the innermost range containing it) is added. So the report keeps vitest's structure and
 * percentages mean the same thing with or without children; branch counts from children are approximate (a
 * branch without a block of its own, such as an implicit else, gets its enclosing block's count).
 */

/** One V8 block-coverage range: byte offsets in the generated code, and how often it ran. */
export interface RawRange {
  startOffset: number;
  endOffset: number;
  count: number;
}

export interface RawFunction {
  functionName: string;
  ranges: RawRange[];
  isBlockCoverage: boolean;
}

export interface RawScript {
  url: string;
  functions: RawFunction[];
}

/** What Node writes per process under NODE_V8_COVERAGE. */
export interface RawProcessCoverage {
  result: RawScript[];
  'source-map-cache'?: Record<string, { lineLengths: number[]; data: SourceMapInput | null }>;
}

/** Every raw coverage file of a NODE_V8_COVERAGE directory (coverage-<pid>-<time>-<n>.json). */
export async function readRawCoverage(dir: string): Promise<RawProcessCoverage[]> {
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.json'));
  return Promise.all(names.map(async (n) => JSON.parse(await readFile(path.join(dir, n), 'utf8')) as RawProcessCoverage));
}

/** The count V8 gives an offset: that of the smallest range containing it (ranges nest), or null if none does. */
export function countAt(functions: readonly RawFunction[], offset: number): number | null {
  let best: RawRange | undefined;
  for (const fn of functions) {
    for (const range of fn.ranges) {
      if (offset < range.startOffset || offset >= range.endOffset) continue;
      if (!best || range.endOffset - range.startOffset <= best.endOffset - best.startOffset) best = range;
    }
  }
  return best ? best.count : null;
}

/** Maps a .ts position (1-based line, 0-based column) to an offset in the generated code. */
export class GeneratedOffsets {
  private readonly tracer: TraceMap;
  private readonly lineStarts: number[];

  constructor(
    map: SourceMapInput,
    lineLengths: readonly number[],
    private readonly source: string,
  ) {
    this.tracer = new TraceMap(map);
    this.lineStarts = [];
    let offset = 0;
    for (const length of lineLengths) {
      this.lineStarts.push(offset);
      offset += length + 1; // the newline
    }
  }

  /**
   * `bias` 'after': the first mapped position at or after this one (a start); 'before': the last at or before it (an
   * end).
   */
  offsetOf(position: Position, bias: 'after' | 'before'): number | null {
    const order = bias === 'after' ? ([LEAST_UPPER_BOUND, GREATEST_LOWER_BOUND] as const) : ([GREATEST_LOWER_BOUND, LEAST_UPPER_BOUND] as const);
    for (const b of order) {
      const generated = generatedPositionFor(this.tracer, { source: this.source, line: position.line, column: position.column, bias: b });
      if (generated.line === null || generated.column === null) continue;
      const start = this.lineStarts[generated.line - 1];
      if (start !== undefined) return start + generated.column;
    }
    return null;
  }
}

/**
 * Adds one child's counts to vitest's coverage of the same files. `target` holds vitest's report (every src/
 * file, tested or not); scripts outside it (node_modules, tests, Node's own) are ignored.
 */
export function addChildCoverage(target: CoverageMapData, raw: RawProcessCoverage): number {
  let added = 0;
  for (const script of raw.result) {
    if (!script.url.startsWith('file://')) continue;
    const file = fileURLToPath(script.url);
    const coverage = target[file];
    const cached = raw['source-map-cache']?.[script.url];
    if (!coverage || !cached?.data) continue;
    const offsets = new GeneratedOffsets(cached.data, cached.lineLengths, script.url);
    addScript(coverage, script.functions, offsets);
    added += 1;
  }
  return added;
}

function addScript(coverage: FileCoverageData, functions: readonly RawFunction[], offsets: GeneratedOffsets): void {
  const count = (position: Position, bias: 'after' | 'before'): number => {
    const offset = offsets.offsetOf(position, bias);
    return offset === null ? 0 : (countAt(functions, offset) ?? 0);
  };
  for (const [id, loc] of Object.entries(coverage.statementMap)) coverage.s[id] = (coverage.s[id] ?? 0) + count(loc.start, 'after');
  // A function's last character (its closing brace, or the end of an arrow's expression) lies in its own range.
  for (const [id, fn] of Object.entries(coverage.fnMap)) {
    const end = { line: fn.loc.end.line, column: Math.max(0, fn.loc.end.column - 1) };
    coverage.f[id] = (coverage.f[id] ?? 0) + count(end, 'before');
  }
  for (const [id, branch] of Object.entries(coverage.branchMap)) {
    const counts = coverage.b[id] ?? branch.locations.map(() => 0);
    coverage.b[id] = branch.locations.map((loc, i) => (counts[i] ?? 0) + (loc.start.line > 0 ? count(loc.start, 'after') : 0));
  }
}
