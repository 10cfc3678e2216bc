import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SERVE_OPTIONS } from '../../src/agent/config.js';
import { dockerPath, expandArgs, parseDockerfile, readJson, readText, repoRoot, type DockerStage } from './support.js';

const dockerfile = parseDockerfile(readText(dockerPath('Dockerfile')));
const pkg = readJson<{ bin: Record<string, string>; engines: { node: string }; scripts: Record<string, string> }>(
  path.join(repoRoot, 'package.json'),
);
const runtime = dockerfile.stages.at(-1)!;
const build = dockerfile.stages[0]!;

function args(stage: DockerStage, keyword: string): string[] {
  return stage.instructions.filter((i) => i.keyword === keyword).map((i) => i.args);
}

/** Exec-form (JSON array) arguments of an instruction; shell form is not accepted for these. */
function execForm(stage: DockerStage, keyword: string): string[] {
  const all = args(stage, keyword);
  expect(all, `${keyword} in the runtime stage`).toHaveLength(1);
  return JSON.parse(all[0]!) as string[];
}

describe('docker/Dockerfile', () => {
  it('is multi-stage: dependencies and tsc in a build stage, the runtime stage copies only dist/', () => {
    expect(dockerfile.stages.length).toBeGreaterThanOrEqual(2);
    expect(args(build, 'RUN').some((r) => /\bnpm ci\b/.test(r) && !r.includes('--omit=dev'))).toBe(true);
    expect(args(build, 'RUN').some((r) => /\bnpm run build\b/.test(r))).toBe(true);
    expect(pkg.scripts.build).toMatch(/^tsc -p tsconfig\.build\.json$/);
    expect(args(runtime, 'COPY')).toContain(`--from=${build.name} /build/dist ./dist`);
  });

  it('installs production dependencies only in the runtime stage', () => {
    const installs = args(runtime, 'RUN').filter((r) => /\bnpm (ci|install|i)\b/.test(r));
    expect(installs.length).toBeGreaterThan(0);
    for (const install of installs) {
      expect(install).toMatch(/\bnpm ci\b/);
      expect(install).toContain('--omit=dev');
    }
  });

  it('pins an official node:20 image by full version, new enough for package.json engines', () => {
    const engines = /^>=(\d+)\.(\d+)$/.exec(pkg.engines.node)!;
    for (const stage of dockerfile.stages) {
      const image = expandArgs(stage.from, dockerfile.globalArgs);
      const tag = /^node:(\d+)\.(\d+)\.(\d+)-[a-z]+-slim$/.exec(image);
      expect(tag, `${image} should be node:<x.y.z>-<debian>-slim`).not.toBeNull();
      expect(Number(tag![1])).toBe(20);
      expect(Number(tag![2])).toBeGreaterThanOrEqual(Number(engines[2]));
    }
  });

  it('runs as a non-root numeric USER', () => {
    const users = args(runtime, 'USER');
    expect(users).toHaveLength(1);
    const user = /^(\d+)(?::(\d+))?$/.exec(users[0]!);
    expect(user, 'USER must be numeric so runAsNonRoot can be verified').not.toBeNull();
    expect(Number(user![1])).toBeGreaterThan(0);
    expect(Number(user![2] ?? 1)).toBeGreaterThan(0);
  });

  it('writes only to a /tmp volume: PINOT_SIDECAR_TMP_DIR and TMPDIR point at it', () => {
    const env = args(runtime, 'ENV').join(' ');
    const tmpDir = /\bPINOT_SIDECAR_TMP_DIR=(\S+)/.exec(env)?.[1];
    const tmpdir = /\bTMPDIR=(\S+)/.exec(env)?.[1];
    expect(SERVE_OPTIONS.tmpDir.env).toBe('PINOT_SIDECAR_TMP_DIR');
    expect(tmpDir).toBe('/tmp');
    expect(tmpdir).toBe('/tmp');
    expect(
      args(runtime, 'VOLUME')
        .map((v) => JSON.parse(v) as string[])
        .flat(),
    ).toContain('/tmp');
  });

  it('has a HEALTHCHECK on /health/live that uses node (no curl in slim images)', () => {
    const checks = args(runtime, 'HEALTHCHECK');
    expect(checks).toHaveLength(1);
    const cmd = /\bCMD (\[.*\])$/.exec(checks[0]!);
    expect(cmd).not.toBeNull();
    const argv = JSON.parse(cmd![1]!) as string[];
    expect(argv[0]).toBe('node');
    expect(argv.join(' ')).toContain('/health/live');
    expect(argv.join(' ')).toContain(SERVE_OPTIONS.port.default);
  });

  it('exposes the default port and starts `serve` from the package bin', () => {
    expect(args(runtime, 'EXPOSE')).toEqual([SERVE_OPTIONS.port.default]);
    expect(execForm(runtime, 'ENTRYPOINT')).toEqual(['node', pkg.bin['pinot-sidecar']]);
    expect(execForm(runtime, 'CMD')).toEqual(['serve']);
  });

  it('carries OCI labels', () => {
    const labels = args(runtime, 'LABEL').join(' ');
    for (const key of ['title', 'description', 'licenses', 'version', 'revision'])
      expect(labels).toContain(`org.opencontainers.image.${key}=`);
  });

  it('declares every ${VAR} a stage uses in that stage (global ARGs are not visible inside a stage)', () => {
    for (const stage of dockerfile.stages) {
      const declared = new Set<string>();
      for (const { keyword, args: text } of stage.instructions) {
        if (keyword !== 'RUN' && keyword !== 'HEALTHCHECK' && keyword !== 'CMD' && keyword !== 'ENTRYPOINT') {
          for (const ref of text.matchAll(/\$\{(\w+)\}/g))
            expect(declared, `${stage.name ?? stage.from}: ${keyword} uses ${ref[1]!}`).toContain(ref[1]);
        }
        if (keyword === 'ARG') declared.add(text.split('=')[0]!);
        if (keyword === 'ENV') for (const m of text.matchAll(/(?:^|\s)(\w+)=/g)) declared.add(m[1]!);
      }
    }
  });

  it('.dockerignore lets through exactly what the Dockerfile copies from the context', () => {
    const ignore = readText(path.join(repoRoot, '.dockerignore'))
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    expect(ignore[0]).toBe('*');
    const allowed = ignore.filter((l) => l.startsWith('!')).map((l) => l.slice(1));
    const copied = dockerfile.stages
      .flatMap((s) => args(s, 'COPY'))
      .filter((c) => !c.startsWith('--from='))
      .flatMap((c) => c.split(' ').slice(0, -1));
    for (const source of copied) expect(allowed, `COPY ${source}`).toContain(source);
  });
});
