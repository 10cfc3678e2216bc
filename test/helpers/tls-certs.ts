// Certificates for the TLS tests, made by the machine's openssl at test time (nothing checked in): two CAs, server
// pairs for 127.0.0.1 and localhost, client pairs by common name, an expired client pair.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface Pair {
  cert: string;
  key: string;
}

export interface CertAuthority extends Pair {
  name: string;
  /** A server pair for 127.0.0.1 / localhost, signed by this CA. */
  server(name: string): Pair;
  /** A client pair whose subject CN is `cn` (and a DNS SAN `san` when given), signed by this CA. */
  client(cn: string, options?: { san?: string; expired?: boolean }): Pair;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

function newKey(dir: string, file: string): string {
  openssl(dir, ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', file]);
  return path.join(dir, file);
}

/** A CA in a fresh directory of its own (its files are the paths a sidecar option takes). */
export function createCa(name: string, root = mkdtempSync(path.join(tmpdir(), 'tls-'))): CertAuthority {
  const dir = path.join(root, name);
  execFileSync('mkdir', ['-p', dir]);
  const key = newKey(dir, 'ca.key');
  openssl(dir, ['req', '-x509', '-new', '-key', key, '-days', '30', '-subj', `/CN=${name}`, '-out', 'ca.crt']);
  const caCert = path.join(dir, 'ca.crt');
  let serial = 1;
  // `openssl ca` (not `x509 -req`) because only it takes explicit start and end dates, for the expired pair.
  const caConf = path.join(dir, 'ca.cnf');
  writeFileSync(path.join(dir, 'index.txt'), '');
  writeFileSync(
    caConf,
    [
      '[ca]',
      'default_ca = local',
      '[local]',
      `dir = ${dir}`,
      'database = $dir/index.txt',
      'new_certs_dir = $dir',
      `certificate = ${caCert}`,
      `private_key = ${key}`,
      'default_md = sha256',
      'policy = any',
      'unique_subject = no',
      'copy_extensions = copy',
      'serial = $dir/serial',
      '[any]',
      'commonName = supplied',
      '',
    ].join('\n'),
  );
  const sign = (file: string, subject: string, san: string, usage: string, dates: [string, string] | number) => {
    const k = newKey(dir, `${file}.key`);
    writeFileSync(path.join(dir, 'serial'), `${(serial++).toString(16).padStart(2, '0')}\n`);
    openssl(dir, [
      'req',
      '-new',
      '-key',
      k,
      '-subj',
      subject,
      '-addext',
      `subjectAltName=${san}`,
      '-addext',
      `extendedKeyUsage=${usage}`,
      '-out',
      `${file}.csr`,
    ]);
    const validity =
      typeof dates === 'number' ? ['-days', String(dates)] : ['-startdate', dates[0], '-enddate', dates[1]];
    openssl(dir, [
      'ca',
      '-batch',
      '-config',
      caConf,
      '-notext',
      '-in',
      `${file}.csr`,
      '-out',
      `${file}.crt`,
      ...validity,
    ]);
    return { cert: path.join(dir, `${file}.crt`), key: k };
  };
  return {
    name,
    cert: caCert,
    key,
    server: (file) => sign(file, '/CN=localhost', 'IP:127.0.0.1,DNS:localhost', 'serverAuth', 10),
    client: (cn, options = {}) =>
      sign(
        `client-${cn}${options.expired ? '-expired' : ''}`,
        `/CN=${cn}`,
        `DNS:${options.san ?? `${cn}.clients.test`}`,
        'clientAuth',
        options.expired ? ['20200101000000Z', '20200102000000Z'] : 10,
      ),
  };
}
