import { RestError } from '@azure/storage-blob';
import { describe, expect, it } from 'vitest';
import { azureAuth } from '../../src/deepstore/azure-client.js';
import { classifyAzureError, maskSecrets } from '../../src/deepstore/azure-classify.js';
import { DeepStoreError } from '../../src/deepstore/errors.js';

/** A RestError as the SDK makes it for an answer: status, the service's code, the raw response's headers. */
function answered(
  statusCode: number,
  code: string | undefined,
  headers: Record<string, string> = {},
  message = `${code ?? 'no code'} message`,
): RestError {
  const lower = new Map(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  const response = { status: statusCode, headers: { get: (name: string) => lower.get(name.toLowerCase()) } };
  return new RestError(`${message}\nRequestId:abc\nTime:2026-01-01T00:00:00Z`, {
    statusCode,
    ...(code === undefined ? {} : { code }),
    response: response as never,
  });
}

const NOW = Date.parse('2026-01-01T00:00:00Z');

describe('classifyAzureError', () => {
  it.each([
    // throttling and server trouble: retriable, with Retry-After
    [
      '503 ServerBusy with Retry-After seconds',
      answered(503, 'ServerBusy', { 'Retry-After': '7' }),
      { code: 'ServerBusy', retriable: true, httpStatus: 503, retryAfterMs: 7000 },
    ],
    [
      '503 with an HTTP-date Retry-After',
      answered(503, undefined, { 'retry-after': 'Thu, 01 Jan 2026 00:00:03 GMT' }),
      { code: 'ServerBusy', retriable: true, retryAfterMs: 3000 },
    ],
    ['429 without a code', answered(429, undefined), { code: 'TooManyRequests', retriable: true }],
    ['500 OperationTimedOut', answered(500, 'OperationTimedOut'), { code: 'OperationTimedOut', retriable: true }],
    ['502 from a gateway', answered(502, undefined), { code: 'BadGateway', retriable: true }],
    ['507', answered(507, undefined), { code: 'NoSpace', retriable: true }],
    [
      '400 InvalidBlockList (another commit discarded our blocks)',
      answered(400, 'InvalidBlockList'),
      { code: 'InvalidBlockList', retriable: true },
    ],
    // conditions: one shared code, retriable (look again)
    [
      '409 BlobAlreadyExists (If-None-Match: *)',
      answered(409, 'BlobAlreadyExists'),
      { code: 'PreconditionFailed', retriable: true, httpStatus: 409 },
    ],
    [
      '412 ConditionNotMet (If-Match)',
      answered(412, 'ConditionNotMet'),
      { code: 'PreconditionFailed', retriable: true, httpStatus: 412 },
    ],
    ['412 to a HEAD (no code)', answered(412, undefined), { code: 'PreconditionFailed', retriable: true }],
    [
      '412 LeaseIdMissing (a lease, not a version)',
      answered(412, 'LeaseIdMissing'),
      { code: 'LeaseIdMissing', retriable: true },
    ],
    // a person has to act
    [
      '403 AuthenticationFailed',
      answered(403, 'AuthenticationFailed'),
      { code: 'AuthenticationFailed', retriable: false, httpStatus: 403 },
    ],
    [
      '403 AuthorizationPermissionMismatch',
      answered(403, 'AuthorizationPermissionMismatch'),
      { code: 'AuthorizationPermissionMismatch', retriable: false },
    ],
    ['403 to a HEAD (no code)', answered(403, undefined), { code: 'Forbidden', retriable: false }],
    ['404 ContainerNotFound', answered(404, 'ContainerNotFound'), { code: 'ContainerNotFound', retriable: false }],
    ['404 BlobNotFound', answered(404, 'BlobNotFound'), { code: 'NoSuchKey', retriable: false }],
    ['400 InvalidMetadata', answered(400, 'InvalidMetadata'), { code: 'InvalidMetadata', retriable: false }],
    [
      '409 BlockCountExceedsLimit',
      answered(409, 'BlockCountExceedsLimit'),
      { code: 'BlockCountExceedsLimit', retriable: false },
    ],
    // the connection
    [
      'a reset connection',
      new RestError('read ECONNRESET', { code: 'ECONNRESET' }),
      { code: 'ECONNRESET', retriable: true, httpStatus: undefined },
    ],
    [
      'a refused connection',
      new RestError('connect ECONNREFUSED 127.0.0.1:1', { code: 'ECONNREFUSED' }),
      { code: 'ECONNREFUSED', retriable: true },
    ],
    [
      'a send error without a code',
      new RestError('boom', { code: RestError.REQUEST_SEND_ERROR }),
      { code: 'REQUEST_SEND_ERROR', retriable: true },
    ],
    [
      "the SDK's per-request timeout",
      Object.assign(new Error('The operation was aborted.'), { name: 'AbortError' }),
      { code: 'AbortError', retriable: true },
    ],
    // credentials from @azure/identity
    [
      'no credential found',
      Object.assign(new Error('DefaultAzureCredential failed'), { name: 'CredentialUnavailableError' }),
      { code: 'CredentialUnavailable', retriable: false },
    ],
    [
      'a token request refused',
      Object.assign(new Error('AADSTS700016'), { name: 'AuthenticationError' }),
      { code: 'CredentialUnavailable', retriable: false },
    ],
    // anything else without an answer: not retriable, like every unknown error
    ['an unknown error', new Error('what?'), { code: 'Unknown', retriable: false }],
  ])('%s', (_what, err, expected) => {
    const classified = classifyAzureError(err, 'Azure put adl2://fs/k', NOW);
    expect(classified).toBeInstanceOf(DeepStoreError);
    expect(classified).toMatchObject(expected);
    expect(classified.cause).toBe(err);
  });

  it.each([
    ['AuthenticationFailed', /account key, SAS token or connection string/],
    ['AuthorizationPermissionMismatch', /Storage Blob Data Contributor/],
    ['AuthorizationFailure', /network rules/],
    ['ContainerNotFound', /container .*does not exist/],
  ])("says what to fix for %s, then the service's first line", (code, hint) => {
    const message = classifyAzureError(
      answered(code === 'ContainerNotFound' ? 404 : 403, code),
      'Azure put adl2://fs/k',
      NOW,
    ).message;
    expect(message).toMatch(hint);
    expect(message).toContain(`Azure put adl2://fs/k failed: ${code} (HTTP`);
    expect(message).toContain(`${code} message`);
    expect(message).not.toContain('RequestId');
  });

  it('passes a DeepStoreError through', () => {
    const err = new DeepStoreError('x', { code: 'X', retriable: false });
    expect(classifyAzureError(err, 'w')).toBe(err);
  });

  it('masks a SAS signature in any message', () => {
    expect(maskSecrets('GET https://a.blob.core.windows.net/c/b?sv=2024&sig=abc%2Bdef%3D&se=x failed')).toBe(
      'GET https://a.blob.core.windows.net/c/b?sv=2024&sig=REDACTED&se=x failed',
    );
    expect(
      classifyAzureError(new RestError('failed for ?sig=SECRET123', { code: 'ECONNRESET' }), 'w').message,
    ).not.toContain('SECRET123');
  });
});

describe('azureAuth', () => {
  it.each([
    [
      { accountName: 'acct', accountKey: 'k' },
      { kind: 'sharedKey', endpoint: 'https://acct.blob.core.windows.net', accountName: 'acct' },
    ],
    [
      { accountName: 'devstoreaccount1', accountKey: 'k', endpoint: 'http://127.0.0.1:10000/devstoreaccount1/' },
      { kind: 'sharedKey', endpoint: 'http://127.0.0.1:10000/devstoreaccount1', accountName: 'devstoreaccount1' },
    ],
    [
      { accountName: 'acct', sasToken: '?sv=1&sig=x' },
      { kind: 'sas', endpoint: 'https://acct.blob.core.windows.net' },
    ],
    [{ connectionString: 'UseDevelopmentStorage=true' }, { kind: 'connectionString' }],
    [
      { connectionString: 'AccountName=a;AccountKey=k', accountName: 'acct', endpoint: 'http://ignored' },
      { kind: 'connectionString' },
    ],
    [{ accountName: 'acct' }, { kind: 'defaultCredential', endpoint: 'https://acct.blob.core.windows.net' }],
    [
      { endpoint: 'https://acct.privatelink.blob.core.windows.net' },
      { kind: 'defaultCredential', endpoint: 'https://acct.privatelink.blob.core.windows.net' },
    ],
    [
      { accountName: 'acct', accountKey: '' },
      { kind: 'defaultCredential', endpoint: 'https://acct.blob.core.windows.net' },
    ], // an empty flag is no flag
  ])('%j → %j', (options, expected) => {
    expect(azureAuth(options)).toEqual(expected);
  });

  it.each([
    [{ accountName: 'acct', accountKey: 'k', sasToken: 's' }, /one Azure credential, not accountKey and sasToken/],
    [{ accountKey: 'k', endpoint: 'http://127.0.0.1:1/a' }, /account key needs the account name/],
    [{}, /no Azure storage account/],
    [{ accountName: 'Bad_Name' }, /invalid Azure storage account name/],
    [{ accountName: 'acct', endpoint: 'ftp://x' }, /invalid Azure Blob endpoint/],
  ])('refuses %j', (options, message) => {
    expect(() => azureAuth(options)).toThrow(
      expect.objectContaining({
        code: 'InvalidAzureOptions',
        retriable: false,
        message: expect.stringMatching(message),
      }),
    );
  });

  it('never puts a secret in its answer (it may be logged)', () => {
    const answer = JSON.stringify([
      azureAuth({ accountName: 'acct', accountKey: 'SECRETKEY' }),
      azureAuth({ accountName: 'acct', sasToken: 'sig=SECRETSAS' }),
    ]);
    expect(answer).not.toMatch(/SECRET/);
  });
});
