import { describe, expect, it } from 'vitest';
import { locateObject, parseStoreUri, sanitizeS3Key } from '../../src/deepstore/store-uri.js';

describe('parseStoreUri', () => {
  it.each([
    ['s3://bucket/pinot/data', { kind: 's3', bucket: 'bucket', key: 'pinot/data' }],
    ['s3://bucket/pinot/data/', { kind: 's3', bucket: 'bucket', key: 'pinot/data/' }],
    ['s3://bucket', { kind: 's3', bucket: 'bucket', key: '' }],
    ['s3a://bucket/x', { kind: 's3', bucket: 'bucket', key: 'x' }], // S3PinotFS serves s3a too
    // the key is the decoded path: %XX decoded, "+" kept (URI.getPath, not form decoding), "//" collapsed
    ['s3://b/data//t/seg+1', { kind: 's3', bucket: 'b', key: 'data/t/seg+1' }],
    ['s3://b/data/t/a%2Bb', { kind: 's3', bucket: 'b', key: 'data/t/a+b' }],
    ['s3://b/data/t/%C3%A9%7E', { kind: 's3', bucket: 'b', key: 'data/t/é~' }],
    // GcsUri: the object name is the decoded path, "//" collapsed, leading "/" dropped; "_" allowed in a bucket
    ['gs://bucket/pinot/data', { kind: 'gcs', bucket: 'bucket', key: 'pinot/data' }],
    ['gs://my_bucket.example/pinot/data/', { kind: 'gcs', bucket: 'my_bucket.example', key: 'pinot/data/' }],
    ['gs://bucket', { kind: 'gcs', bucket: 'bucket', key: '' }],
    ['gs://b1/data//t/seg+1', { kind: 'gcs', bucket: 'b1', key: 'data/t/seg+1' }],
    ['gs://b1/data/t/a%2Bb%20%C3%A9', { kind: 'gcs', bucket: 'b1', key: 'data/t/a+b é' }],
    ['file:///var/pinot/deep', { kind: 'file', path: '/var/pinot/deep' }],
    ['file:/var/pinot/deep/', { kind: 'file', path: '/var/pinot/deep' }], // what URIUtils.getUri writes
    ['file://localhost/var/x', { kind: 'file', path: '/var/x' }],
    ['file:///var/deep//t/seg%20x', { kind: 'file', path: '/var/deep/t/seg x' }],
    // adl2: the path as ADLSGen2PinotFS names the file (AzurePinotFSUtil.convertUriToAzureStylePath): form
    // decoded ("+" is a space, %2B a "+"), one leading and one trailing "/" dropped, "//" kept
    ['adl2://fs/pinot/data', { kind: 'adl2', fileSystem: 'fs', path: 'pinot/data' }],
    ['adl2://fs/pinot/data/', { kind: 'adl2', fileSystem: 'fs', path: 'pinot/data' }],
    ['adl2://fs', { kind: 'adl2', fileSystem: 'fs', path: '' }],
    ['adl2://fs/', { kind: 'adl2', fileSystem: 'fs', path: '' }],
    ['adl2://fs/data//t/seg+1', { kind: 'adl2', fileSystem: 'fs', path: 'data//t/seg 1' }],
    ['adl2://fs/data/t/a%2Bb', { kind: 'adl2', fileSystem: 'fs', path: 'data/t/a+b' }],
    ['adl2://fs/data/t/%C3%A9%7E%25', { kind: 'adl2', fileSystem: 'fs', path: 'data/t/é~%' }],
  ])('%s', (uri, expected) => {
    expect(parseStoreUri(uri)).toEqual({ uri, ...expected });
  });

  it.each([
    'gcs://bucket/data', // a scheme we do not implement (Pinot's GCS scheme is gs)
    'gs:///data', // no bucket
    'gs://Bucket/data', // GCS bucket names are lower case
    'gs://bucket/data#x',
    'gs://bucket/bad%zz',
    'hdfs:///data',
    'http://host/data',
    '/var/pinot/deep', // Pinot would read this as file:, but a config should say what it means
    's3:///data', // no bucket
    's3://bucket/data?x=1',
    'file://otherhost/var/x',
    'file:relative/path',
    's3://bucket/bad%zz',
    'adl2:///data', // no file system
    'adl2://fs/data?x=1',
    'adl2://fs/bad%zz',
    'abfss://fs@account.dfs.core.windows.net/data', // Hadoop's ABFS form, not Pinot's
    '',
  ])('refuses %j with a non-retriable InvalidDeepStoreUri', (uri) => {
    expect(() => parseStoreUri(uri)).toThrow(
      expect.objectContaining({ code: 'InvalidDeepStoreUri', retriable: false }),
    );
  });
});

describe('sanitizeS3Key (S3PinotFS.sanitizePath)', () => {
  it.each([
    ['/a/b', 'a/b'],
    ['//a///b', 'a/b'],
    ['/', ''],
    ['a', 'a'],
  ])('%j → %j', (input, expected) => {
    expect(sanitizeS3Key(input)).toBe(expected);
  });
});

describe('locateObject', () => {
  const s3Base = parseStoreUri('s3://bucket/data');
  const s3Root = parseStoreUri('s3://bucket');
  const fileBase = parseStoreUri('file:///deep');

  const gcsBase = parseStoreUri('gs://bucket/data');

  it.each([
    [gcsBase, 'gs://bucket/data/t/seg', 'data/t/seg'],
    [gcsBase, 'gs://bucket/data//t/seg%2Bx', 'data/t/seg+x'],
    [parseStoreUri('gs://bucket'), 'gs://bucket/t/seg', 't/seg'],
  ])('finds the object name of a GCS object under the base', (base, uri, key) => {
    expect(locateObject(base, uri)).toMatchObject({ kind: 'gcs', key });
  });

  it.each([
    [s3Base, 's3://bucket/data/t/seg', 'data/t/seg'],
    [s3Base, 's3://bucket/data//t/seg', 'data/t/seg'], // from a base written with a trailing slash
    [parseStoreUri('s3://bucket/data/'), 's3://bucket/data/t/seg', 'data/t/seg'],
    [s3Root, 's3://bucket/t/seg', 't/seg'],
  ])('finds the key of an object under the base', (base, uri, key) => {
    expect(locateObject(base, uri)).toMatchObject({ kind: 's3', key });
  });

  it.each([
    ['s3://other/data/t/seg', s3Base],
    ['s3://bucket/database/t/seg', s3Base], // a sibling that shares the prefix string
    ['s3://bucket/data', s3Base],
    ['s3://bucket/data/', s3Base],
    ['s3://bucket/data/t/', s3Base],
    ['s3://bucket/data/../t/seg', s3Base],
    ['s3://bucket/data/t/%2E%2E', s3Base],
    ['s3://bucket', s3Root],
    ['file:///data/t/seg', s3Base],
    ['file:///deep', fileBase],
    ['file:///deeper/t/seg', fileBase],
    ['file:///deep/t/../../etc/passwd', fileBase],
    ['s3://deep/t/seg', fileBase],
    ['gs://other/data/t/seg', gcsBase],
    ['gs://bucket/database/t/seg', gcsBase],
    ['gs://bucket/data/', gcsBase],
    ['gs://bucket/data/t/%2E%2E', gcsBase],
    ['s3://bucket/data/t/seg', gcsBase], // same bucket and key, another store
    ['gs://bucket/data/t/seg', s3Base],
  ])('refuses %s', (uri, base) => {
    expect(() => locateObject(base, uri)).toThrow(
      expect.objectContaining({ code: 'UriOutsideDeepStore', retriable: false }),
    );
  });

  const adlBase = parseStoreUri('adl2://fs/data');
  const adlSlash = parseStoreUri('adl2://fs/data/');
  const adlRoot = parseStoreUri('adl2://fs');

  it.each([
    [adlBase, 'adl2://fs/data/t/seg', 'data/t/seg'],
    [adlBase, 'adl2://fs/data/t/seg+with+space', 'data/t/seg with space'],
    [adlSlash, 'adl2://fs/data//t/seg', 'data//t/seg'], // segmentUri of a base with a trailing "/", as Pinot names it
    [adlSlash, 'adl2://fs/data/t/seg', 'data/t/seg'],
    [adlRoot, 'adl2://fs/t/seg', 't/seg'],
  ])('finds the blob name of an adl2 object under the base', (base, uri, blob) => {
    expect(locateObject(base, uri)).toMatchObject({ kind: 'adl2', fileSystem: 'fs', path: blob });
  });

  it.each([
    ['adl2://other/data/t/seg', adlBase],
    ['adl2://fs/database/t/seg', adlBase], // a sibling that shares the prefix string
    ['adl2://fs/data', adlBase],
    ['adl2://fs/data/', adlBase],
    ['adl2://fs/data//t/seg', adlBase], // an empty step is only the one a trailing "/" of the base makes
    ['adl2://fs/data///t/seg', adlSlash],
    ['adl2://fs/data/t/..', adlBase],
    ['adl2://fs/data/t/%2E%2E', adlBase],
    ['adl2://fs', adlRoot],
    ['s3://fs/data/t/seg', adlBase],
    ['adl2://fs/data/t/seg', s3Base],
  ])('refuses %s', (uri, base) => {
    const outside = expect.objectContaining({ code: 'UriOutsideDeepStore', retriable: false });
    expect(() => locateObject(base, uri)).toThrow(outside);
  });

  it('finds the path of a file under the base', () => {
    expect(locateObject(fileBase, 'file:///deep/t/seg+1')).toMatchObject({ kind: 'file', path: '/deep/t/seg+1' });
    expect(locateObject(fileBase, 'file:/deep//t/..seg')).toMatchObject({ kind: 'file', path: '/deep/t/..seg' });
  });
});
