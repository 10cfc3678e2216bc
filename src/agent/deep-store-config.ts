// The deep-store options every command shares (serve, fetch, demo): S3's, Google Cloud Storage's and Azure's, as
// flags and environment variables, and the one function that turns them into createDeepStore() options. Secrets
// are read from files (or the cloud's standard variables) here, at start, and never kept in the configuration,
// which may be logged.

import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { CHECKSUM_MODES, parseStoreUri, type DeepStoreOptions } from '../deepstore/index.js';
import { bool, type OptionSpec } from './option-spec.js';

/** The S3 region when neither --s3-region nor AWS_REGION names one. */
export const DEFAULT_S3_REGION = 'us-east-1';

export const DEEP_STORE_OPTIONS = {
  s3Endpoint: {
    flag: 's3-endpoint',
    env: 'PINOT_SIDECAR_S3_ENDPOINT',
    type: 'string',
    help: 'S3 endpoint URL for S3-compatible stores (MinIO, ...)',
  },
  s3Region: {
    flag: 's3-region',
    env: 'PINOT_SIDECAR_S3_REGION',
    type: 'string',
    help: `S3 region (default: AWS_REGION, else ${DEFAULT_S3_REGION})`,
  },
  s3PathStyle: {
    flag: 's3-path-style',
    env: 'PINOT_SIDECAR_S3_PATH_STYLE',
    type: 'boolean',
    help: 'Path-style S3 addressing (MinIO and most non-AWS stores)',
  },
  s3Checksums: {
    flag: 's3-checksums',
    env: 'PINOT_SIDECAR_S3_CHECKSUMS',
    type: 'string',
    help: 'WHEN_REQUIRED (default with --s3-endpoint) or WHEN_SUPPORTED (default on AWS)',
  },
  gcsProjectId: {
    flag: 'gcs-project-id',
    env: 'PINOT_SIDECAR_GCS_PROJECT_ID',
    type: 'string',
    help: "gs:// only: the GCP project (GcsPinotFS's projectId); default: from the credentials",
  },
  gcsKeyFile: {
    flag: 'gcs-key-file',
    env: 'PINOT_SIDECAR_GCS_KEY_FILE',
    type: 'string',
    help: "gs:// only: a service-account JSON key file (GcsPinotFS's gcpKey); default: Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, GKE workload identity)",
  },
  gcsEndpoint: {
    flag: 'gcs-endpoint',
    env: 'PINOT_SIDECAR_GCS_ENDPOINT',
    type: 'string',
    help: 'gs:// only: another GCS endpoint, with credentials (Private Service Connect)',
  },
  gcsEmulatorEndpoint: {
    flag: 'gcs-emulator-endpoint',
    env: 'PINOT_SIDECAR_GCS_EMULATOR_ENDPOINT',
    type: 'string',
    help: 'gs:// only: a GCS emulator (fake-gcs-server), http://host:port, reached without credentials',
  },
  azureAccountName: {
    flag: 'azure-account-name',
    env: 'PINOT_SIDECAR_AZURE_ACCOUNT_NAME',
    type: 'string',
    help: "adl2:// only: the storage account (ADLSGen2PinotFS's accountName); default AZURE_STORAGE_ACCOUNT",
  },
  azureAccountKeyFile: {
    flag: 'azure-account-key-file',
    env: 'PINOT_SIDECAR_AZURE_ACCOUNT_KEY_FILE',
    type: 'string',
    help: "adl2:// only: a file holding the account's shared key (ADLSGen2PinotFS's accessKey); or AZURE_STORAGE_KEY",
  },
  azureSasTokenFile: {
    flag: 'azure-sas-token-file',
    env: 'PINOT_SIDECAR_AZURE_SAS_TOKEN_FILE',
    type: 'string',
    help: 'adl2:// only: a file holding a SAS token for the account or container; or AZURE_STORAGE_SAS_TOKEN',
  },
  azureConnectionStringFile: {
    flag: 'azure-connection-string-file',
    env: 'PINOT_SIDECAR_AZURE_CONNECTION_STRING_FILE',
    type: 'string',
    help: 'adl2:// only: a file holding a storage connection string; or AZURE_STORAGE_CONNECTION_STRING. With no key, SAS or connection string: DefaultAzureCredential (workload identity)',
  },
  azureEndpoint: {
    flag: 'azure-endpoint',
    env: 'PINOT_SIDECAR_AZURE_ENDPOINT',
    type: 'string',
    help: 'adl2:// only: the Blob endpoint (default https://<account>.blob.core.windows.net; Azurite http://127.0.0.1:10000/devstoreaccount1)',
  },
  azureFileSystem: {
    flag: 'azure-file-system',
    env: 'PINOT_SIDECAR_AZURE_FILE_SYSTEM',
    type: 'string',
    help: "adl2:// only: the container when it is not the URI's authority (ADLSGen2PinotFS's fileSystemName, which Pinot uses instead of the URI's)",
  },
} as const satisfies Record<string, OptionSpec>;

export const deepStoreSchema = z.object({
  s3Endpoint: z.url().optional(),
  s3Region: z.string().min(1).optional(),
  s3PathStyle: bool.default(false),
  s3Checksums: z.enum(CHECKSUM_MODES).optional(),
  gcsProjectId: z.string().min(1).optional(),
  gcsKeyFile: z.string().min(1).optional(),
  gcsEndpoint: z.url().optional(),
  gcsEmulatorEndpoint: z.url().optional(),
  azureAccountName: z
    .string()
    .regex(/^[a-z0-9]{3,24}$/, 'expected 3 to 24 lower-case letters and digits')
    .optional(),
  azureAccountKeyFile: z.string().min(1).optional(),
  azureSasTokenFile: z.string().min(1).optional(),
  azureConnectionStringFile: z.string().min(1).optional(),
  azureEndpoint: z.url().optional(),
  azureFileSystem: z.string().min(1).optional(),
});

export type DeepStoreConfig = z.infer<typeof deepStoreSchema>;

/** The scheme family `--deep-store` names, 'none' without one, null when it does not parse (reported elsewhere). */
function storeKind(deepStore: string | undefined): 's3' | 'gcs' | 'adl2' | 'file' | 'none' | null {
  if (deepStore === undefined) return 'none';
  try {
    return parseStoreUri(deepStore).kind;
  } catch {
    return null;
  }
}

/** Whose flags were given for a store `--deep-store` does not name: a typo or a half-migrated config. */
const FAMILIES = [
  { kind: 's3', scheme: 'an s3://', keys: ['s3Endpoint', 's3Region'] },
  { kind: 'gcs', scheme: 'a gs://', keys: ['gcsProjectId', 'gcsKeyFile', 'gcsEndpoint', 'gcsEmulatorEndpoint'] },
  {
    kind: 'adl2',
    scheme: 'an adl2://',
    keys: [
      'azureAccountName',
      'azureAccountKeyFile',
      'azureSasTokenFile',
      'azureConnectionStringFile',
      'azureEndpoint',
      'azureFileSystem',
    ],
  },
] as const;

/**
 * One line per problem of the store options against `--deep-store`: options of another store's family, more than
 * one Azure credential. Only what the schema cannot see alone. `anyStore`: the command reads whatever store a URI
 * names (fetch), so every store's options may be given together.
 */
export function deepStoreProblems(
  config: DeepStoreConfig & { deepStore?: string | undefined },
  options: { storeFlag?: string; anyStore?: boolean } = {},
): string[] {
  const problems: string[] = [];
  const kind = options.anyStore === true ? null : storeKind(config.deepStore);
  const where = options.storeFlag ?? '--deep-store';
  for (const family of FAMILIES) {
    if (kind === family.kind || kind === null) continue;
    const given = family.keys
      .filter((key) => config[key] !== undefined)
      .map((key) => `--${DEEP_STORE_OPTIONS[key].flag}`);
    if (given.length > 0) problems.push(`${given.join(', ')}: only meaningful with ${family.scheme} ${where}`);
  }
  const azureSecrets = [config.azureAccountKeyFile, config.azureSasTokenFile, config.azureConnectionStringFile].filter(
    (v) => v !== undefined,
  );
  if (azureSecrets.length > 1)
    problems.push('--azure-account-key-file, --azure-sas-token-file, --azure-connection-string-file: give one of them');
  if (config.gcsEndpoint !== undefined && config.gcsEmulatorEndpoint !== undefined)
    problems.push('--gcs-endpoint, --gcs-emulator-endpoint: give one of them');
  return problems;
}

/**
 * The createDeepStore() options of a command's configuration. S3: the region falls back to AWS_REGION, then
 * DEFAULT_S3_REGION; an absent checksum mode is left to the store. GCS: STORAGE_EMULATOR_HOST is refused: the Node
 * SDK (7.x, "experimental") takes it verbatim as its base URL for metadata and reads, while uploads would go to the
 * configured endpoint: give --gcs-emulator-endpoint instead. Azure: secrets from the named files, else
 * AZURE_STORAGE_KEY / AZURE_STORAGE_SAS_TOKEN / AZURE_STORAGE_CONNECTION_STRING, else none (DefaultAzureCredential).
 * Throws an Error naming the option whose file cannot be read.
 */
export function deepStoreOptions(config: DeepStoreConfig, env: NodeJS.ProcessEnv): Omit<DeepStoreOptions, 'logger'> {
  const secret = (file: string | undefined, variable: string, flag: string): string | undefined => {
    if (file === undefined) return env[variable] === '' ? undefined : env[variable];
    try {
      return readFileSync(file, 'utf8').trim();
    } catch (err) {
      throw new Error(`--${flag}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
  };
  const fileGiven = [config.azureAccountKeyFile, config.azureSasTokenFile, config.azureConnectionStringFile].some(
    (f) => f !== undefined,
  );
  const fromEnv = (file: string | undefined, variable: string, flag: string) =>
    fileGiven && file === undefined ? undefined : secret(file, variable, flag);
  if (env.STORAGE_EMULATOR_HOST !== undefined && env.STORAGE_EMULATOR_HOST !== '') {
    throw new Error(
      'STORAGE_EMULATOR_HOST is set: the GCS client would read from it and upload elsewhere; unset it and give --gcs-emulator-endpoint',
    );
  }
  return {
    s3: {
      endpoint: config.s3Endpoint,
      region: config.s3Region ?? env.AWS_REGION ?? DEFAULT_S3_REGION,
      forcePathStyle: config.s3PathStyle,
      checksums: config.s3Checksums,
    },
    gcs: {
      ...(config.gcsProjectId === undefined ? {} : { projectId: config.gcsProjectId }),
      ...(config.gcsKeyFile === undefined ? {} : { keyFile: config.gcsKeyFile }),
      ...(config.gcsEndpoint === undefined ? {} : { apiEndpoint: config.gcsEndpoint }),
      ...(config.gcsEmulatorEndpoint === undefined ? {} : { emulatorEndpoint: config.gcsEmulatorEndpoint }),
    },
    azure: dropUndefined({
      accountName: config.azureAccountName ?? (env.AZURE_STORAGE_ACCOUNT || undefined),
      accountKey: fromEnv(config.azureAccountKeyFile, 'AZURE_STORAGE_KEY', 'azure-account-key-file'),
      sasToken: fromEnv(config.azureSasTokenFile, 'AZURE_STORAGE_SAS_TOKEN', 'azure-sas-token-file'),
      connectionString: fromEnv(
        config.azureConnectionStringFile,
        'AZURE_STORAGE_CONNECTION_STRING',
        'azure-connection-string-file',
      ),
      endpoint: config.azureEndpoint,
      fileSystem: config.azureFileSystem,
    }),
  };
}

function dropUndefined<T extends Record<string, unknown>>(value: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as {
    [K in keyof T]?: Exclude<T[K], undefined>;
  };
}
