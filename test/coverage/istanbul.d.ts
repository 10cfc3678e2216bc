/**
 * The parts of istanbul's libraries (dependencies of @vitest/coverage-v8, which ships no types for them) that the
 * coverage merge uses.
 */
declare module 'istanbul-lib-coverage' {
  export interface Position {
    line: number;
    column: number;
  }
  export interface Range {
    start: Position;
    end: Position;
  }
  export interface FileCoverageData {
    path: string;
    statementMap: Record<string, Range>;
    fnMap: Record<string, { name: string; decl: Range; loc: Range; line: number }>;
    branchMap: Record<string, { type: string; loc: Range; locations: Range[]; line: number }>;
    s: Record<string, number>;
    f: Record<string, number>;
    b: Record<string, number[]>;
  }
  export interface CoverageMapData {
    [path: string]: FileCoverageData;
  }
  export interface Totals {
    total: number;
    covered: number;
    skipped: number;
    pct: number;
  }
  export interface CoverageSummaryData {
    lines: Totals;
    statements: Totals;
    branches: Totals;
    functions: Totals;
  }
  export interface CoverageSummary {
    toJSON(): CoverageSummaryData;
  }
  export interface FileCoverage {
    toSummary(): CoverageSummary;
  }
  export interface CoverageMap {
    files(): string[];
    fileCoverageFor(file: string): FileCoverage;
    getCoverageSummary(): CoverageSummary;
    toJSON(): CoverageMapData;
  }
  const lib: { createCoverageMap(data?: CoverageMapData): CoverageMap };
  export default lib;
}

declare module 'istanbul-lib-report' {
  import type { CoverageMap } from 'istanbul-lib-coverage';
  export interface Context {
    readonly dir: string;
  }
  const lib: { createContext(options: { dir: string; coverageMap: CoverageMap; defaultSummarizer?: 'flat' | 'nested' | 'pkg' }): Context };
  export default lib;
}

declare module 'istanbul-reports' {
  import type { Context } from 'istanbul-lib-report';
  const reports: { create(name: string, options?: Record<string, unknown>): { execute(context: Context): void } };
  export default reports;
}
