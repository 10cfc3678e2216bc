import { describe, expect, it } from 'vitest';
import { s3OperationOf } from '../helpers/fault-proxy.js';

/** The proxy's counters are only as good as its idea of which S3 operation a request is. */
describe('s3OperationOf (path-style)', () => {
  it.each([
    ['GET', '/', {}, 'ListBuckets'],
    ['PUT', '/bucket', {}, 'CreateBucket'],
    ['PUT', '/bucket/', {}, 'CreateBucket'],
    ['DELETE', '/bucket', {}, 'DeleteBucket'],
    ['HEAD', '/bucket', {}, 'HeadBucket'],
    ['GET', '/bucket?list-type=2', {}, 'ListObjects'],
    ['GET', '/bucket?uploads', {}, 'ListMultipartUploads'],
    ['POST', '/bucket?delete', {}, 'DeleteObjects'],
    ['PUT', '/bucket/a/b', {}, 'PutObject'],
    ['PUT', '/bucket/a/b?x-id=PutObject', {}, 'PutObject'],
    ['PUT', '/bucket/a/b', { 'x-amz-copy-source': '/bucket/c' }, 'CopyObject'],
    ['GET', '/bucket/a/b', {}, 'GetObject'],
    ['HEAD', '/bucket/a/b', {}, 'HeadObject'],
    ['DELETE', '/bucket/a/b', {}, 'DeleteObject'],
    ['POST', '/bucket/a/b?uploads', {}, 'CreateMultipartUpload'],
    ['POST', '/bucket/a/b?uploads=&x-id=CreateMultipartUpload', {}, 'CreateMultipartUpload'],
    ['PUT', '/bucket/a/b?partNumber=2&uploadId=u1&x-id=UploadPart', {}, 'UploadPart'],
    ['GET', '/bucket/a/b?uploadId=u1', {}, 'ListParts'],
    ['POST', '/bucket/a/b?uploadId=u1', {}, 'CompleteMultipartUpload'],
    ['DELETE', '/bucket/a/b?uploadId=u1&x-id=AbortMultipartUpload', {}, 'AbortMultipartUpload'],
    ['PATCH', '/bucket/a', {}, 'Other'],
  ])('%s %s → %s', (method, url, headers, expected) => {
    expect(s3OperationOf(method, url, headers)).toBe(expected);
  });
});
