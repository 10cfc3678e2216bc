import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/fixtures.js';

/**
 * The layer rule of docs/architecture.md lives in eslint.config.js (no-restricted-imports): this proves it fires,
 * so that a config change that silently drops it fails here rather than letting a layer import the agent.
 */
const eslint = new ESLint({
  cwd: repoRoot,
  // The rule is syntactic: parse without type information and run only it, so the probe source need not be a
  // project file.
  overrideConfig: { languageOptions: { parserOptions: { projectService: false, project: null } } },
  ruleFilter: ({ ruleId }) => ruleId === 'no-restricted-imports',
});

async function layerErrors(filePath: string, source: string): Promise<string[]> {
  const [result] = await eslint.lintText(source, { filePath });
  return (result?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

describe('the layer rule (eslint.config.js)', () => {
  it.each([
    ['src/helix/probe.ts', "import { Sidecar } from '../agent/sidecar.js';"],
    ['src/helix/probe.ts', "import { createDeepStore } from '../deepstore/index.js';"],
    ['src/segments/probe.ts', "import { ZkSession } from '../helix/index.js';"],
    ['src/deepstore/probe.ts', "import { SegmentStore } from '../segments/index.js';"],
    ['src/deepstore/inner/probe.ts', "import type { Metrics } from '../../agent/metrics.js';"],
  ])('%s may not %s', async (file, source) => {
    expect(await layerErrors(file, `${source}\nexport {};\n`)).toEqual([expect.stringContaining('is a library')]);
  });

  it.each([
    ['src/helix/probe.ts', "import { SidecarError } from '../errors.js';"],
    ['src/deepstore/probe.ts', "import { isRealtimeTable } from '../pinot-format/index.js';"],
    ['src/agent/probe.ts', "import { ZkSession } from '../helix/index.js';"],
  ])('%s may %s', async (file, source) => {
    expect(await layerErrors(file, `${source}\nexport {};\n`)).toEqual([]);
  });
});
