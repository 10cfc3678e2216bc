import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseServeConfig, deepStoreOptions, serveUsage } from '../../src/agent/config.js';
import { lockRootUnder } from '../../src/agent/repair/index.js';
import { s3ClientConfig } from '../../src/deepstore/s3-deep-store.js';

const minimal = [
  '--zk',
  '127.0.0.1:2181',
  '--cluster',
  'C',
  '--instance',
  'Server_a_8098',
  '--data-dir',
  '/var/pinot/data',
];

function parse(argv: string[], env: NodeJS.ProcessEnv = {}): string[] | { problems: string[] } {
  try {
    return parseServeConfig([...minimal, ...argv], env).tierDataDirs;
  } catch (err) {
    if (err instanceof ConfigError) return { problems: err.problems };
    throw err;
  }
}

describe('--tier-data-dir / PINOT_SIDECAR_TIER_DATA_DIRS', () => {
  it.each([
    ['none by default', [], {}, []],
    ['one flag', ['--tier-data-dir', '/tiers/cold'], {}, ['/tiers/cold']],
    [
      'the flag repeated, in order',
      ['--tier-data-dir', '/tiers/warm', '--tier-data-dir', '/tiers/cold'],
      {},
      ['/tiers/warm', '/tiers/cold'],
    ],
    [
      'the variable, colon-separated, in order',
      [],
      { PINOT_SIDECAR_TIER_DATA_DIRS: '/tiers/warm:/tiers/cold' },
      ['/tiers/warm', '/tiers/cold'],
    ],
    [
      'flags win over the variable, whole',
      ['--tier-data-dir', '/tiers/x'],
      { PINOT_SIDECAR_TIER_DATA_DIRS: '/tiers/warm:/tiers/cold' },
      ['/tiers/x'],
    ],
    ['an empty variable is unset', [], { PINOT_SIDECAR_TIER_DATA_DIRS: '' }, []],
  ])('%s', (_label, argv, env, expected) => {
    expect(parse(argv, env)).toEqual(expected);
  });

  it.each([
    [
      'two colons in a row',
      [],
      { PINOT_SIDECAR_TIER_DATA_DIRS: '/tiers/warm::/tiers/cold' },
      /an empty directory name/,
    ],
    ['a trailing colon', [], { PINOT_SIDECAR_TIER_DATA_DIRS: '/tiers/warm:' }, /an empty directory name/],
    ['an empty flag', ['--tier-data-dir', ''], {}, /an empty directory name/],
    [
      'a dir listed twice',
      ['--tier-data-dir', '/tiers/cold', '--tier-data-dir', '/tiers/cold/'],
      {},
      /\/tiers\/cold\/ is listed twice or is the --data-dir/,
    ],
    [
      'the data dir itself',
      [],
      { PINOT_SIDECAR_TIER_DATA_DIRS: '/var/pinot/data' },
      /\/var\/pinot\/data is listed twice or is the --data-dir/,
    ],
  ])('%s is refused, in one line naming the flag and the variable', (_label, argv, env, message) => {
    const result = parse(argv, env);
    expect(result).toEqual({
      problems: [expect.stringMatching(/^--tier-data-dir \(PINOT_SIDECAR_TIER_DATA_DIRS\): /)],
    });
    expect((result as { problems: string[] }).problems[0]).toMatch(message);
  });

  it('is in the usage text', () => {
    expect(serveUsage()).toMatch(
      /--tier-data-dir <value> +PINOT_SIDECAR_TIER_DATA_DIRS\n.*Repeatable; the variable is a colon-separated list/,
    );
  });
});

describe('S3 store options (serve, fetch and demo alike)', () => {
  it.each([
    ['--s3-region wins', ['--s3-region', 'eu-west-1'], { AWS_REGION: 'ap-south-1' }, 'eu-west-1'],
    ['then AWS_REGION', [], { AWS_REGION: 'ap-south-1' }, 'ap-south-1'],
    ['else us-east-1', [], {}, 'us-east-1'],
  ])('region: %s', (_label, argv, env, region) => {
    const config = parseServeConfig([...minimal, '--deep-store', 's3://b/p', ...argv], {});
    expect(deepStoreOptions(config, env).s3!.region).toBe(region);
  });

  it.each([
    ['WHEN_REQUIRED with an endpoint', ['--s3-endpoint', 'http://minio:9000'], 'WHEN_REQUIRED'],
    ['WHEN_SUPPORTED on AWS', [], 'WHEN_SUPPORTED'],
    [
      '--s3-checksums wins',
      ['--s3-endpoint', 'http://minio:9000', '--s3-checksums', 'WHEN_SUPPORTED'],
      'WHEN_SUPPORTED',
    ],
  ])('checksums: %s', (_label, argv, mode) => {
    const config = parseServeConfig([...minimal, '--deep-store', 's3://b/p', ...argv], {});
    const client = s3ClientConfig(deepStoreOptions(config, {}).s3!);
    expect([client.requestChecksumCalculation, client.responseChecksumValidation]).toEqual([mode, mode]);
  });
});

describe('--lock-root', () => {
  it.each([
    [[], '/pinot-sidecar/C/locks'],
    [['--lock-root', '/sidecars/prod'], '/sidecars/prod/C/locks'],
    [['--lock-root', '/'], '/C/locks'],
  ])('%j → locks under %s', (argv, root) => {
    const config = parseServeConfig([...minimal, ...argv], {});
    expect(lockRootUnder(config.lockRoot, config.cluster)).toBe(root);
  });
});

describe('--compression-threads / PINOT_SIDECAR_COMPRESSION_THREADS', () => {
  it.each([
    [[], {}, Math.min(availableParallelism(), 8)],
    [['--compression-threads', '3'], {}, 3],
    [[], { PINOT_SIDECAR_COMPRESSION_THREADS: '16' }, 16],
    [['--compression-threads', '1'], { PINOT_SIDECAR_COMPRESSION_THREADS: '16' }, 1],
  ])('%j with %j → %i threads', (argv, env, threads) => {
    expect(parseServeConfig([...minimal, ...argv], env).compressionThreads).toBe(threads);
  });

  it.each(['0', '257', 'many'])('%s is refused, naming the flag', (value) => {
    expect(() => parseServeConfig([...minimal, '--compression-threads', value], {})).toThrow(ConfigError);
    try {
      parseServeConfig([...minimal, '--compression-threads', value], {});
    } catch (err) {
      expect((err as ConfigError).problems).toEqual([
        expect.stringMatching(/^--compression-threads \(PINOT_SIDECAR_COMPRESSION_THREADS\)/),
      ]);
    }
  });
});
