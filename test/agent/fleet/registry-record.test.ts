import { describe, expect, it } from 'vitest';
import {
  decodeRegistration,
  defaultAdvertiseUrl,
  encodeRegistration,
  registrationPath,
  registryPath,
  RegistrationParseError,
} from '../../../src/agent/fleet/registry-record.js';
import { lockRootUnder } from '../../../src/agent/repair/upload-lock.js';
import { repairCounts } from '../../../src/agent/fleet/summary.js';
import { zeroTotals } from '../../../src/agent/repair/repair-state.js';

describe('registry paths', () => {
  it.each([
    ['/pinot-sidecar', '/pinot-sidecar/C/sidecars/Server_a_8098'],
    ['/pinot-sidecar/', '/pinot-sidecar/C/sidecars/Server_a_8098'],
    ['/ops/sidecars-root', '/ops/sidecars-root/C/sidecars/Server_a_8098'],
  ])('under %s', (root, expected) => {
    expect(registrationPath(root, 'C', 'Server_a_8098')).toBe(expected);
    expect(registryPath(root, 'C')).toBe(expected.slice(0, expected.lastIndexOf('/')));
    // Beside the upload locks, under the same cluster folder, never inside the Pinot cluster tree (/C).
    expect(lockRootUnder(root, 'C')).toBe(expected.replace('/sidecars/Server_a_8098', '/locks'));
  });
});

describe('registration codec', () => {
  const entry = {
    url: 'http://10.0.0.5:9700',
    version: '0.1.0',
    startedAt: '2026-01-01T00:00:00.000Z',
    capabilities: ['fleet-summary'],
    zone: 'us-east-1a',
  };

  it('round-trips', () => {
    expect(decodeRegistration('/p', encodeRegistration(entry))).toEqual(entry);
  });

  it.each([
    [null, /not JSON/],
    [Buffer.from('{'), /not JSON/],
    [Buffer.from('{"url":"http://h:1"}'), /version/],
    [Buffer.from(JSON.stringify({ ...entry, url: 'ftp://h' })), /url: expected http/],
  ])('refuses %s', (data, message) => {
    expect(() => decodeRegistration('/p', data)).toThrow(RegistrationParseError);
    expect(() => decodeRegistration('/p', data)).toThrow(message);
  });
});

describe('defaultAdvertiseUrl', () => {
  it.each([
    ['pinot-server-0.pinot-server.ns.svc', 9700, 'http://pinot-server-0.pinot-server.ns.svc:9700'],
    ['10.0.0.5', 9701, 'http://10.0.0.5:9701'],
    ['fd00::5', 9700, 'http://[fd00::5]:9700'],
  ])('%s:%d', (host, port, url) => {
    expect(defaultAdvertiseUrl(host, port)).toBe(url);
  });

  it('says https when the port serves TLS', () => {
    expect(defaultAdvertiseUrl('fd00::5', 9700, { tls: true })).toBe('https://[fd00::5]:9700');
  });
});

describe('repairCounts', () => {
  it.each([
    [{}, { pending: 0, failed: 0 }],
    [
      { pending: 1, uploading: 1, verifying: 1, committing: 1, retrying: 1 },
      { pending: 5, failed: 0 },
    ],
    [
      { failed: 2, done: 9, skipped: 3, gone: 1, fixed_by_other: 1 },
      { pending: 0, failed: 2 },
    ],
  ])('%o', (counts, expected) => {
    expect(repairCounts({ ...zeroTotals(), ...counts })).toEqual(expected);
  });
});
