// Which Azure Blob Storage failures are worth retrying, pure: the Azure counterpart of classifyS3Error
// (classify.ts), with the same rules. Throttling (503 ServerBusy, 429), 5xx, timeouts and broken connections
// are retriable, with `Retry-After` passed on as `retryAfterMs`; credentials, permissions and a missing container
// need a person, and the message says what to fix. Codes are the Blob service's own (x-ms-error-code, "Blob
// service error codes" in the Azure Storage REST reference), except three names shared with the other stores:
// a missing blob is `NoSuchKey`, a failed create-only or If-Match write is `PreconditionFailed`, a full store
// `NoSpace`.

import { errorMessage } from '../errors.js';
import { BROKEN_CONNECTION_CODES, NO_SPACE_CODE, parseRetryAfter } from './classify.js';
import { DeepStoreError } from './errors.js';

/** DeepStoreError.code of a write refused by its condition (If-None-Match: * or If-Match): see PutOptions. */
export const PRECONDITION_FAILED_CODE = 'PreconditionFailed';

/** What an error from @azure/storage-blob (a RestError) or @azure/identity carries, wherever it is. */
export interface AzureErrorFacts {
  code: string;
  httpStatus: number | undefined;
  retryAfter: string | undefined;
  /** The service's message, first line only (the rest is RequestId and Time), with any SAS signature masked. */
  message: string;
}

interface AzureErrorShape {
  name?: unknown;
  code?: unknown;
  statusCode?: unknown;
  message?: unknown;
  // RestError.response (non-enumerable): the raw answer, whose headers carry Retry-After and x-ms-error-code.
  response?: { status?: unknown; headers?: { get?(name: string): string | undefined } };
}

/** Names for error answers without a code (a HEAD has no body; a proxy may answer for the service). */
const STATUS_CODES: Record<number, string> = {
  400: 'BadRequest',
  403: 'Forbidden',
  404: 'NotFound',
  409: 'Conflict',
  412: 'ConditionNotMet',
  429: 'TooManyRequests',
  500: 'InternalError',
  502: 'BadGateway',
  503: 'ServerBusy',
  504: 'GatewayTimeout',
  507: 'InsufficientStorage',
};

/** @azure/identity's errors when no credential could be had (DefaultAzureCredential found nothing, or failed). */
const CREDENTIAL_ERRORS = new Set([
  'CredentialUnavailableError',
  'AuthenticationError',
  'AggregateAuthenticationError',
  'AuthenticationRequiredError',
]);

/** Mask the signature of a SAS token wherever a message repeats a URL: it is a password. */
export function maskSecrets(text: string): string {
  return text.replace(/([?&]sig=)[^&\s"']+/gi, '$1REDACTED');
}

export function azureErrorFacts(err: unknown): AzureErrorFacts {
  const e = (typeof err === 'object' && err !== null ? err : {}) as AzureErrorShape;
  const rawStatus = e.statusCode ?? e.response?.status;
  const httpStatus = typeof rawStatus === 'number' && rawStatus > 0 ? rawStatus : undefined;
  const header = (name: string): string | undefined => {
    const value = e.response?.headers?.get?.(name);
    return typeof value === 'string' && value !== '' ? value : undefined;
  };
  const name = typeof e.name === 'string' ? e.name : '';
  let code =
    (typeof e.code === 'string' && e.code !== '' && e.code) ||
    header('x-ms-error-code') ||
    (CREDENTIAL_ERRORS.has(name) && 'CredentialUnavailable') ||
    (name !== '' && name !== 'Error' && name !== 'RestError' && name) ||
    'Unknown';
  if (httpStatus !== undefined && code === 'Unknown') code = STATUS_CODES[httpStatus] ?? `Http${httpStatus}`;
  if (CREDENTIAL_ERRORS.has(name)) code = 'CredentialUnavailable';
  const message = maskSecrets(errorMessage(err).split('\n')[0] ?? '').trim();
  return { code, httpStatus, retryAfter: header('retry-after'), message };
}

/** Codes no amount of waiting fixes: credentials, permissions, names, a missing container, a refused request. */
const PERMANENT_CODES = new Set([
  'AuthenticationFailed', // wrong account key, a bad or expired SAS token, or a clock far off
  'AuthorizationFailure',
  'AuthorizationPermissionMismatch', // RBAC: the identity lacks a Storage Blob Data role
  'AuthorizationProtocolMismatch',
  'AuthorizationResourceTypeMismatch', // a SAS without the object resource type
  'AuthorizationServiceMismatch', // a SAS for another service
  'AuthorizationSourceIPMismatch',
  'InsufficientAccountPermissions',
  'AccountIsDisabled',
  'ContainerNotFound',
  'ContainerDisabled',
  'ContainerBeingDeleted',
  'CredentialUnavailable',
  'Forbidden',
  'InvalidResourceName',
  'InvalidMetadata',
  'InvalidUri',
  'InvalidHeaderValue',
  'UnsupportedHeader',
  'RequestBodyTooLarge',
  'BlockCountExceedsLimit', // over 50,000 blocks: a bigger block size is needed, not another try
  'NoSuchKey',
  'BlobNotFound',
  'NotFound',
]);

const RETRIABLE_CODES = new Set([
  'ServerBusy',
  'InternalError',
  'OperationTimedOut',
  'TooManyRequests',
  PRECONDITION_FAILED_CODE, // someone else wrote there: look again, then decide
  'LeaseIdMissing', // a lease on the blob (another writer): it ends
  'LeaseAlreadyPresent',
  // Another writer's Put Block List to the same blob discarded our uncommitted blocks: a new attempt restages.
  'InvalidBlockList',
  'Md5Mismatch', // bytes damaged in transit
  'Crc64Mismatch',
  'REQUEST_SEND_ERROR',
  'PARSE_ERROR', // an answer that was not the service's (a gateway's error page)
  ...BROKEN_CONNECTION_CODES,
  'TimeoutError',
  // The SDK's per-request timeout (tryTimeoutInMs) aborts the request; a caller's own abort never gets here
  // (the store rejects with signal.reason instead).
  'AbortError',
]);

export function isRetriableAzureFailure(code: string, httpStatus: number | undefined): boolean {
  if (httpStatus === 507) return true;
  if (PERMANENT_CODES.has(code)) return false;
  if (RETRIABLE_CODES.has(code)) return true;
  if (httpStatus === undefined) return false;
  return httpStatus >= 500 || httpStatus === 429 || httpStatus === 408;
}

/**
 * The shared name for a code: BlobNotFound is `NoSuchKey` (DeepStore.get's contract), a write refused by its
 * condition is `PreconditionFailed` (409 BlobAlreadyExists for If-None-Match: *, 412 ConditionNotMet for
 * If-Match), 507 is `NoSpace`.
 */
export function sharedAzureCode(code: string, httpStatus: number | undefined): string {
  if (httpStatus === 507) return NO_SPACE_CODE;
  if (code === 'BlobNotFound') return 'NoSuchKey';
  if (code === 'BlobAlreadyExists' || code === 'ConditionNotMet' || code === 'TargetConditionNotMet')
    return PRECONDITION_FAILED_CODE;
  if (httpStatus === 412 && (code === 'Conflict' || code === 'Unknown')) return PRECONDITION_FAILED_CODE;
  return code;
}

/** What an operator should fix for a permanent code, or undefined when the service's message says enough. */
export function azureHint(code: string): string | undefined {
  if (code === 'AuthenticationFailed') {
    return (
      'the account key, SAS token or connection string is wrong, expired or for another account ' +
      '(or the clock is off by more than 15 minutes)'
    );
  }
  if (code === 'AuthorizationFailure') {
    // Azure's answer to a request refused as a whole: a firewall or network rule, a disabled shared key, a SAS
    // it does not accept; Azurite answers a wrong account key with it too.
    return (
      "the request was refused: check the account key or SAS token, the account's network rules " +
      '(firewall, private endpoint), and that shared-key access is allowed'
    );
  }
  if (code.startsWith('Authorization') || code === 'InsufficientAccountPermissions' || code === 'Forbidden') {
    return (
      'the credentials may not do this: the identity needs the Storage Blob Data Contributor role on the ' +
      'container, or the SAS needs read, add, create, write, delete and list permissions on objects'
    );
  }
  if (code === 'ContainerNotFound')
    return (
      'the container (the adl2:// file system) does not exist in this account: ' +
      'check the deep-store URI and the account name'
    );
  if (code === 'CredentialUnavailable') {
    return (
      'no Azure credential: give an account key, a SAS token or a connection string, or set up workload ' +
      'identity (AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE) or a managed identity'
    );
  }
  if (code === 'AccountIsDisabled') return 'the storage account is disabled';
  return undefined;
}

/** Turn whatever the Azure SDK threw into a DeepStoreError; `what` says which call, e.g. "Azure put adl2://fs/k". */
export function classifyAzureError(err: unknown, what: string, nowMs: number = Date.now()): DeepStoreError {
  if (err instanceof DeepStoreError) return err;
  const facts = azureErrorFacts(err);
  const code = sharedAzureCode(facts.code, facts.httpStatus);
  const retryAfterMs = parseRetryAfter(facts.retryAfter, nowMs);
  const status = facts.httpStatus === undefined ? '' : ` (HTTP ${facts.httpStatus})`;
  const named = code === facts.code ? code : `${code} (${facts.code})`;
  const hint = azureHint(facts.code);
  const full = code === NO_SPACE_CODE ? 'the deep store is full: ' : '';
  return new DeepStoreError(
    `${what} failed: ${full}${named}${status}: ${hint === undefined ? '' : `${hint}: `}${facts.message}`,
    {
      code,
      retriable: isRetriableAzureFailure(code, facts.httpStatus),
      ...(facts.httpStatus === undefined ? {} : { httpStatus: facts.httpStatus }),
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
      cause: err,
    },
  );
}
