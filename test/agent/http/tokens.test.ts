import { describe, expect, it } from 'vitest';
import { presentedToken, requiredScope, TokenSet } from '../../../src/agent/http/tokens.js';
import { certificateNames, allowedByList } from '../../../src/agent/http/tls.js';
import { tlsAndTokenProblems } from '../../../src/agent/tls-config.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('presentedToken', () => {
  it.each([
    [undefined, undefined],
    ['Bearer abc', 'abc'],
    ['bearer   abc  ', 'abc'],
    ['Bearer a b', undefined],
    [`Basic ${b64('pinot-server:abc')}`, 'abc'],
    [`Basic ${b64('user:pa:ss')}`, 'pa:ss'],
    [`Basic ${b64('user:')}`, undefined],
    [`Basic ${b64('no-colon')}`, undefined],
    ['abc', undefined],
    ['Digest abc', undefined],
  ])('%s -> %s', (header, token) => {
    expect(presentedToken(header)).toBe(token);
  });
});

describe('requiredScope', () => {
  it.each([
    ['GET', 'download'],
    ['HEAD', 'download'],
    ['POST', 'admin'],
    ['PUT', 'admin'],
    ['DELETE', 'admin'],
    ['OPTIONS', 'admin'],
  ])('%s needs %s', (method, scope) => {
    expect(requiredScope(method)).toBe(scope);
  });
});

describe('TokenSet.check', () => {
  const set = TokenSet.of([
    { token: 'dl', scopes: ['download'] },
    { token: 'adm', scopes: ['download', 'admin'] },
  ]);
  it.each([
    [undefined, 'download', { ok: false, status: 401 }],
    ['x', 'download', { ok: false, status: 401 }],
    ['dl', 'download', { ok: true }],
    ['dl', 'admin', { ok: false, status: 403 }],
    ['adm', 'admin', { ok: true }],
    ['adm', 'download', { ok: true }],
    ['dlx', 'download', { ok: false, status: 401 }],
  ] as const)('%s for %s', (token, scope, verdict) => {
    expect(set.check(token, scope)).toEqual(verdict);
  });
});

describe('client certificate names', () => {
  it('takes the CN and every subjectAltName value', () => {
    const names = certificateNames({
      subject: { CN: 'pinot-server-0' } as never,
      subjectaltname: 'DNS:pinot-server-0.svc, URI:spiffe://cluster/ns/pinot/sa/server, IP Address:10.0.0.1',
    });
    expect(names).toEqual(['pinot-server-0', 'pinot-server-0.svc', 'spiffe://cluster/ns/pinot/sa/server', '10.0.0.1']);
    expect(allowedByList(names, new Set(['spiffe://cluster/ns/pinot/sa/server']))).toBe(true);
    expect(allowedByList(names, new Set(['pinot-server-1']))).toBe(false);
  });
});

describe('TLS and token option problems', () => {
  const base = { tlsClientAllow: [] as string[], port: 9700 };
  it.each([
    [{}, []],
    [{ tlsCertFile: 'c' }, [/go together/]],
    [{ tlsKeyFile: 'k' }, [/go together/]],
    [{ tlsClientCaFile: 'ca' }, [/mutual TLS needs HTTPS/]],
    [{ tlsCertFile: 'c', tlsKeyFile: 'k', tlsClientAllow: ['a'] }, [/needs --tls-client-ca-file/]],
    [{ httpPort: 9700 }, [/port of its own/]],
    [{ tlsCertFile: 'c', tlsKeyFile: 'k', tlsClientCaFile: 'ca', tlsClientAllow: ['a'], httpPort: 9701 }, []],
  ] as const)('%o', (config, expected) => {
    const problems = tlsAndTokenProblems({ ...base, ...config } as Parameters<typeof tlsAndTokenProblems>[0]);
    expect(problems).toHaveLength(expected.length);
    expected.forEach((re, i) => expect(problems[i]).toMatch(re));
  });
});
