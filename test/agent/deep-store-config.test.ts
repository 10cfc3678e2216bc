import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, parseServeConfig } from '../../src/agent/config.js';
import { deepStoreOptions } from '../../src/agent/deep-store-config.js';
import { parseFetchArgs } from '../../src/agent/fetch/options.js';

/** The deep-store options of serve and fetch (issue 14): one line per problem, secrets from files, never logged. */
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

function problems(argv: string[], env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseServeConfig([...minimal, ...argv], env);
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'deep-store-config-'));
  await writeFile(path.join(dir, 'key'), 'c2VjcmV0LWtleQ==\n');
  await writeFile(path.join(dir, 'sas'), '?sv=2024&sig=abc\n');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('--deep-store schemes and their options', () => {
  it.each([['s3://b/p'], ['s3a://b/p'], ['gs://bucket/p'], ['adl2://fs/p'], ['file:///var/deep']])(
    '%s is accepted',
    (uri) => {
      expect(problems(['--deep-store', uri])).toEqual([]);
    },
  );

  it.each([
    [
      'hdfs://nn/x',
      /--deep-store \(PINOT_SIDECAR_DEEP_STORE\): expected s3:\/\/bucket\/prefix, gs:\/\/bucket\/prefix, adl2:/,
    ],
    ['/var/deep', /expected s3:/],
  ])('%s is refused with one line', (uri, line) => {
    expect(problems(['--deep-store', uri])).toEqual([expect.stringMatching(line)]);
  });

  it.each([
    [
      ['--deep-store', 'gs://bucket/p', '--s3-endpoint', 'http://minio:9000'],
      '--s3-endpoint: only meaningful with an s3:// --deep-store',
    ],
    [
      ['--deep-store', 's3://b/p', '--gcs-key-file', '/k.json'],
      '--gcs-key-file: only meaningful with a gs:// --deep-store',
    ],
    [
      ['--deep-store', 'gs://bucket/p', '--azure-account-name', 'acct1', '--azure-endpoint', 'http://x'],
      '--azure-account-name, --azure-endpoint: only meaningful with an adl2:// --deep-store',
    ],
    [
      ['--deep-store', 'adl2://fs/p', '--azure-account-key-file', '/k', '--azure-sas-token-file', '/s'],
      '--azure-account-key-file, --azure-sas-token-file, --azure-connection-string-file: give one of them',
    ],
    [
      ['--deep-store', 'adl2://fs/p', '--azure-account-name', 'Not_Valid'],
      '--azure-account-name (PINOT_SIDECAR_AZURE_ACCOUNT_NAME): expected 3 to 24 lower-case letters and digits',
    ],
    [
      ['--deep-store', 'gs://bucket/p', '--gcs-endpoint', 'not a url'],
      '--gcs-endpoint (PINOT_SIDECAR_GCS_ENDPOINT): Invalid URL',
    ],
  ])('%j → one line naming the option', (argv, line) => {
    expect(problems(argv)).toEqual([line]);
  });

  it("fetch takes every store's options at once (the URI in ZooKeeper picks the store)", () => {
    const args = parseFetchArgs(
      [
        '--zk',
        'z:2181',
        '--cluster',
        'C',
        '--out',
        '/tmp/o',
        '--gcs-project-id',
        'p',
        '--azure-account-name',
        'acct1',
        '--s3-region',
        'eu-west-1',
        't_OFFLINE',
        's',
      ],
      {},
    );
    const options = deepStoreOptions(args.config, {});
    expect(options).toMatchObject({
      s3: { region: 'eu-west-1' },
      gcs: { projectId: 'p' },
      azure: { accountName: 'acct1' },
    });
  });
});

describe('deepStoreOptions', () => {
  it('GCS: Application Default Credentials unless a key file is named; an emulator by its own option', () => {
    const config = parseServeConfig([...minimal, '--deep-store', 'gs://bucket/p'], {});
    expect(deepStoreOptions(config, {}).gcs).toEqual({});
    const emulated = parseServeConfig(
      [...minimal, '--deep-store', 'gs://bucket/p', '--gcs-emulator-endpoint', 'http://127.0.0.1:4443'],
      {},
    );
    expect(deepStoreOptions(emulated, {}).gcs).toEqual({ emulatorEndpoint: 'http://127.0.0.1:4443' });
    const keyed = parseServeConfig(
      [
        ...minimal,
        '--deep-store',
        'gs://bucket/p',
        '--gcs-key-file',
        '/k.json',
        '--gcs-endpoint',
        'https://psc.example',
      ],
      {},
    );
    expect(deepStoreOptions(keyed, {}).gcs).toEqual({ keyFile: '/k.json', apiEndpoint: 'https://psc.example' });
  });

  it('GCS: STORAGE_EMULATOR_HOST is refused (the SDK would read from it and upload elsewhere)', () => {
    const config = parseServeConfig([...minimal, '--deep-store', 'gs://bucket/p'], {});
    expect(() => deepStoreOptions(config, { STORAGE_EMULATOR_HOST: '127.0.0.1:4443' })).toThrow(
      /unset it and give --gcs-emulator-endpoint/,
    );
  });

  it('Azure: the secret comes from its file (trimmed), and is not in the parsed configuration', () => {
    const keyFile = path.join(dir, 'key');
    const config = parseServeConfig(
      [...minimal, '--deep-store', 'adl2://fs/p', '--azure-account-name', 'acct1', '--azure-account-key-file', keyFile],
      {},
    );
    expect(JSON.stringify(config)).not.toContain('c2VjcmV0LWtleQ');
    expect(deepStoreOptions(config, { AZURE_STORAGE_SAS_TOKEN: 'ignored' }).azure).toEqual({
      accountName: 'acct1',
      accountKey: 'c2VjcmV0LWtleQ==',
    });
  });

  it("Azure: the standard variables when no file is named; none at all → DefaultAzureCredential's options", () => {
    const config = parseServeConfig([...minimal, '--deep-store', 'adl2://fs/p'], {});
    expect(
      deepStoreOptions(config, { AZURE_STORAGE_ACCOUNT: 'acct2', AZURE_STORAGE_SAS_TOKEN: 'sv=1&sig=2' }).azure,
    ).toEqual({ accountName: 'acct2', sasToken: 'sv=1&sig=2' });
    expect(deepStoreOptions(config, {}).azure).toEqual({});
  });

  it('an unreadable secret file is named, not its content', () => {
    const config = parseServeConfig(
      [...minimal, '--deep-store', 'adl2://fs/p', '--azure-sas-token-file', path.join(dir, 'missing')],
      {},
    );
    expect(() => deepStoreOptions(config, {})).toThrow(/--azure-sas-token-file: cannot read .*missing \(ENOENT\)/);
  });
});
