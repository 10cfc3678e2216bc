import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { TEMP_FOLDER } from '../../../src/deepstore/file-store-temps.js';
import { inspectCrc } from '../../../src/segments/index.js';
import { spawnCli } from '../../helpers/cli.js';

function processesMentioning(text: string): string[] {
  try {
    return execFileSync('pgrep', ['-af', text], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.trim() !== '' && !l.includes('pgrep'));
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

describe('pinot-sidecar demo --once (end to end, real processes)', () => {
  let dir: string;
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('starts ZooKeeper, seeds a cluster, repairs the segments without a deep-store copy, and leaves nothing running', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'demo-'));
    const demoDir = path.join(dir, 'demo');
    const p = spawnCli(['demo', '--once', '--port', '0', '--dir', demoDir]);
    const code = await p.exited;
    const out = p.output();
    expect(code, out).toBe(0);
    expect(out).toMatch(/3 of 3 segments without a deep-store copy repaired/);
    expect(out).toMatch(/skipped \(committing\)/);
    // Nothing to try once everything has stopped: no curl lines after --once.
    expect(out).not.toMatch(/curl -s/);
    expect(out.trimEnd().split('\n').at(-1)).toBe('Demo done (--once): everything stopped.');
    // Every repaired object is a Pinot-shaped archive whose creation.meta matches its recomputed CRC.
    const deepStore = path.join(demoDir, 'deepstore');
    const objects: string[] = [];
    for (const table of await readdir(deepStore)) {
      if (table === TEMP_FOLDER) continue; // the uploads' temp folder, not a table: checked below
      for (const name of await readdir(path.join(deepStore, table))) objects.push(path.join(deepStore, table, name));
    }
    expect(objects.filter((o) => /\.tmp\./.test(o))).toEqual([]); // no Pinot temp name
    // The repairs wrote through the sidecar's temp folder, which they left empty.
    expect(await readdir(path.join(deepStore, TEMP_FOLDER))).toEqual([]);
    expect(objects).toHaveLength(3 + 3); // 3 seeded healthy copies + 3 repairs
    for (const object of objects) expect((await inspectCrc(object)).match).toBe(true);
    expect(processesMentioning(demoDir)).toEqual([]);
  });
});

describe('pinot-sidecar demo (until Ctrl-C)', () => {
  it('prints curl lines that write into the demo folder, never the current directory, and stops on SIGINT', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'demo-run-'));
    const demoDir = path.join(dir, 'demo');
    const p = spawnCli(['demo', '--port', '0', '--dir', demoDir]);
    try {
      await vi.waitFor(() => expect(p.output()).toMatch(/Press Ctrl-C to stop everything/), {
        timeout: 60_000,
        interval: 200,
      });
      const curl = p
        .output()
        .split('\n')
        .find((l) => l.includes('/tables/clicks/segments/'))!;
      expect(curl).toMatch(
        new RegExp(
          `-o ${demoDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/clicks__[^ ]+\\.tar\\.gz && tar tzvf ${demoDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/`,
        ),
      );
      expect(curl).toMatch(/curl -s http:\/\/127\.0\.0\.1:\d+\/tables\/clicks\/segments\//);
      p.child.kill('SIGINT');
      expect(await p.exited).toBe(0);
      expect(processesMentioning(demoDir)).toEqual([]);
    } finally {
      p.child.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('demo option pass-through', () => {
  it('hands unknown options to the sidecar with their values', async () => {
    const { parseArgs } = await import('node:util');
    const { passThroughArgs } = await import('../../../src/agent/commands/demo.js');
    const args = [
      '--once',
      '--deep-store',
      's3://bucket/prefix',
      '--s3-endpoint=http://minio:9000',
      '--s3-path-style',
      '--port',
      '0',
      '--gzip-level',
      '6',
    ];
    const { tokens } = parseArgs({
      args,
      options: { once: { type: 'boolean' }, port: { type: 'string' } },
      strict: false,
      tokens: true,
    });
    expect(passThroughArgs(tokens)).toEqual([
      '--deep-store',
      's3://bucket/prefix',
      '--s3-endpoint',
      'http://minio:9000',
      '--s3-path-style',
      '--gzip-level',
      '6',
    ]);
  });
});
