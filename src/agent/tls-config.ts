// The `serve` options of issue 17 (README.md, "TLS and access control"): HTTPS, mutual TLS, the plain probe port and
// the scoped token files, with the checks that tie them together. config.ts spreads them into its table.

import { z } from 'zod';
import { intIn, type OptionSpec } from './option-spec.js';

export const TLS_AND_TOKEN_OPTIONS = {
  downloadTokenFile: {
    flag: 'download-token-file',
    env: 'PINOT_SIDECAR_DOWNLOAD_TOKEN_FILE',
    type: 'string',
    help: 'File holding a token that grants reads only (segment downloads, status); re-read when it changes',
  },
  adminTokenFile: {
    flag: 'admin-token-file',
    env: 'PINOT_SIDECAR_ADMIN_TOKEN_FILE',
    type: 'string',
    help: 'File holding a token that grants admin actions (POST /repair/run, ...) and reads; re-read when it changes',
  },
  tlsCertFile: {
    flag: 'tls-cert-file',
    env: 'PINOT_SIDECAR_TLS_CERT_FILE',
    type: 'string',
    help: 'PEM certificate (chain) of the HTTPS port; with --tls-key-file the port speaks TLS 1.2+ only',
  },
  tlsKeyFile: {
    flag: 'tls-key-file',
    env: 'PINOT_SIDECAR_TLS_KEY_FILE',
    type: 'string',
    help: 'PEM private key of --tls-cert-file; both are reloaded when their directory changes',
  },
  tlsClientCaFile: {
    flag: 'tls-client-ca-file',
    env: 'PINOT_SIDECAR_TLS_CLIENT_CA_FILE',
    type: 'string',
    help: 'PEM CA bundle: every client must present a certificate it signed (mutual TLS)',
  },
  tlsClientAllow: {
    flag: 'tls-client-allow',
    env: 'PINOT_SIDECAR_TLS_CLIENT_ALLOW',
    type: 'string',
    help:
      'Client certificate names (subject CN or a subjectAltName) allowed in, others get 403; ' +
      'repeatable, the variable comma-separated',
    repeatable: { envSeparator: ',' },
  },
  httpPort: {
    flag: 'http-port',
    env: 'PINOT_SIDECAR_HTTP_PORT',
    type: 'string',
    help: 'Plain-HTTP port serving only /health/* and /metrics (kubelet probes, Prometheus) beside the HTTPS port',
  },
} as const satisfies Record<string, OptionSpec>;

export const tlsAndTokenSchema = z.object({
  downloadTokenFile: z.string().min(1).optional(),
  adminTokenFile: z.string().min(1).optional(),
  tlsCertFile: z.string().min(1).optional(),
  tlsKeyFile: z.string().min(1).optional(),
  tlsClientCaFile: z.string().min(1).optional(),
  tlsClientAllow: z.array(z.string().trim().min(1, 'an empty name')).default([]),
  httpPort: intIn(0, 65535).optional(),
});

export type TlsAndTokenConfig = z.infer<typeof tlsAndTokenSchema>;

/** What the options say together that no single one can: pairs given half, an allow-list without mutual TLS. */
export function tlsAndTokenProblems(c: TlsAndTokenConfig & { port: number }): string[] {
  const o = TLS_AND_TOKEN_OPTIONS;
  const name = (spec: OptionSpec) => `--${spec.flag} (${spec.env!})`;
  const problems: string[] = [];
  if ((c.tlsCertFile === undefined) !== (c.tlsKeyFile === undefined))
    problems.push(`${name(o.tlsCertFile)} and ${name(o.tlsKeyFile)} go together: give both or neither`);
  if (c.tlsClientCaFile !== undefined && c.tlsCertFile === undefined)
    problems.push(`${name(o.tlsClientCaFile)}: mutual TLS needs HTTPS (${name(o.tlsCertFile)} and --tls-key-file)`);
  if (c.tlsClientAllow.length > 0 && c.tlsClientCaFile === undefined)
    problems.push(`${name(o.tlsClientAllow)}: names client certificates, so it needs ${name(o.tlsClientCaFile)}`);
  if (c.httpPort !== undefined && c.httpPort !== 0 && c.httpPort === c.port)
    problems.push(`${name(o.httpPort)}: ${c.httpPort} is also --port; the probe port needs a port of its own`);
  return problems;
}
