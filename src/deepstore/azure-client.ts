// How the Azure store reaches its container: which credential, which endpoint, which SDK pipeline. The choice
// is a pure function (azureAuth) so that every combination of options is checked by a table; the SDK client is
// built from its answer. The credentials are those ADLSGen2PinotFS accepts (its `authenticationType`):
// ACCESS_KEY (accountName + accessKey), SAS_TOKEN, DEFAULT (DefaultAzureCredential: workload identity, managed
// identity, environment), plus a connection string, the usual form for Azurite and for secrets in Kubernetes.

import { DefaultAzureCredential } from '@azure/identity';
import {
  AnonymousCredential,
  BlobServiceClient,
  StorageSharedKeyCredential,
  type StoragePipelineOptions,
} from '@azure/storage-blob';
import { invalidArgument } from './errors.js';

export interface AzureCredentialOptions {
  /** The storage account (Pinot's `accountName`). Needed unless `connectionString` or `endpoint` names it. */
  accountName?: string;
  /** Shared key of the account (Pinot's `accessKey`); needs `accountName`. */
  accountKey?: string;
  /** A SAS token (`sv=...&sig=...`, with or without the leading `?`), for the account or the container. */
  sasToken?: string;
  /** `DefaultEndpointsProtocol=...;AccountName=...;AccountKey=...;BlobEndpoint=...` or `UseDevelopmentStorage=true`. */
  connectionString?: string;
  /**
   * The Blob service endpoint. Default `https://<accountName>.blob.core.windows.net`; Azurite:
   * `http://127.0.0.1:10000/devstoreaccount1`. Ignored with a connection string, which names its own.
   */
  endpoint?: string;
}

/** Which credential azureAuth() chose; secrets stay in the options, never in this answer (it may be logged). */
export type AzureAuth =
  | { kind: 'sharedKey'; endpoint: string; accountName: string }
  | { kind: 'sas'; endpoint: string }
  | { kind: 'connectionString' }
  /** No secret given: DefaultAzureCredential (AZURE_* environment, workload identity, managed identity, CLI). */
  | { kind: 'defaultCredential'; endpoint: string };

const ACCOUNT_NAME = /^[a-z0-9]{3,24}$/;

/**
 * The credential and endpoint `options` ask for, or a non-retriable InvalidAzureOptions naming what to fix:
 * at most one secret (key, SAS token, connection string); a key needs its account name; an endpoint or an account
 * name to build one from. Pure.
 */
export function azureAuth(options: AzureCredentialOptions): AzureAuth {
  const secrets = (['accountKey', 'sasToken', 'connectionString'] as const).filter((name) => nonEmpty(options[name]));
  if (secrets.length > 1) {
    throw invalidArgument('InvalidAzureOptions', `give one Azure credential, not ${secrets.join(' and ')}`);
  }
  if (nonEmpty(options.connectionString)) return { kind: 'connectionString' };
  const { accountName } = options;
  if (nonEmpty(accountName) && !ACCOUNT_NAME.test(accountName)) {
    throw invalidArgument(
      'InvalidAzureOptions',
      `invalid Azure storage account name ${JSON.stringify(accountName)}: 3 to 24 lower-case letters and digits`,
    );
  }
  let endpoint: string;
  if (nonEmpty(options.endpoint)) {
    endpoint = options.endpoint.replace(/\/+$/, '');
    if (!/^https?:\/\/[^/?#]+/i.test(endpoint))
      throw invalidArgument(
        'InvalidAzureOptions',
        `invalid Azure Blob endpoint ${JSON.stringify(options.endpoint)}: expected http(s)://host[/account]`,
      );
  } else if (nonEmpty(accountName)) {
    endpoint = `https://${accountName}.blob.core.windows.net`;
  } else {
    throw invalidArgument(
      'InvalidAzureOptions',
      'no Azure storage account: give the account name (or an endpoint, or a connection string)',
    );
  }
  if (nonEmpty(options.accountKey)) {
    if (!nonEmpty(accountName))
      throw invalidArgument('InvalidAzureOptions', 'an Azure account key needs the account name too');
    return { kind: 'sharedKey', endpoint, accountName };
  }
  if (nonEmpty(options.sasToken)) return { kind: 'sas', endpoint };
  return { kind: 'defaultCredential', endpoint };
}

function nonEmpty(value: string | undefined): value is string {
  return value !== undefined && value !== '';
}

/** The SDK client for `options` (checked by azureAuth first). */
export function azureServiceClient(
  options: AzureCredentialOptions,
  pipeline: StoragePipelineOptions,
): BlobServiceClient {
  const auth = azureAuth(options);
  switch (auth.kind) {
    case 'connectionString':
      return BlobServiceClient.fromConnectionString(options.connectionString ?? '', pipeline);
    case 'sharedKey':
      return new BlobServiceClient(
        auth.endpoint,
        new StorageSharedKeyCredential(auth.accountName, options.accountKey ?? ''),
        pipeline,
      );
    case 'sas':
      return new BlobServiceClient(
        `${auth.endpoint}?${(options.sasToken ?? '').replace(/^\?/, '')}`,
        new AnonymousCredential(),
        pipeline,
      );
    case 'defaultCredential':
      return new BlobServiceClient(auth.endpoint, new DefaultAzureCredential(), pipeline);
  }
}
