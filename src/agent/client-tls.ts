// The TLS side of the commands that talk to sidecars (`fetch`, `status`): the CA that signed the sidecars'
// certificates, and the client pair a sidecar with --tls-client-ca-file requires. Read once, at start.

import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { errorMessage } from '../errors.js';
import { ConfigError } from './config.js';
import type { OptionSpec } from './option-spec.js';

export const CLIENT_TLS_OPTIONS = {
  caFile: {
    flag: 'ca-file',
    env: 'PINOT_SIDECAR_CA_FILE',
    type: 'string',
    help: "PEM CA bundle the sidecars' (and servers') HTTPS certificates are checked against (default: the system CAs)",
  },
  clientCertFile: {
    flag: 'client-cert-file',
    env: 'PINOT_SIDECAR_CLIENT_CERT_FILE',
    type: 'string',
    help: 'PEM client certificate presented over HTTPS (sidecars with --tls-client-ca-file require one)',
  },
  clientKeyFile: {
    flag: 'client-key-file',
    env: 'PINOT_SIDECAR_CLIENT_KEY_FILE',
    type: 'string',
    help: 'PEM private key of --client-cert-file',
  },
} as const satisfies Record<string, OptionSpec>;

export const clientTlsSchema = z.object({
  caFile: z.string().min(1).optional(),
  clientCertFile: z.string().min(1).optional(),
  clientKeyFile: z.string().min(1).optional(),
});

export type ClientTlsFiles = z.infer<typeof clientTlsSchema>;

/** What node:https takes: only the fields given, so an absent CA means the system's. */
export interface ClientTls {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

export function clientTlsProblems(files: ClientTlsFiles): string[] {
  if ((files.clientCertFile === undefined) === (files.clientKeyFile === undefined)) return [];
  return ['--client-cert-file and --client-key-file go together: give both or neither'];
}

/** Reads the files; a file that cannot be read is a ConfigError naming the option (exit 2). */
export async function readClientTls(files: ClientTlsFiles): Promise<ClientTls> {
  const read = async (file: string | undefined, spec: OptionSpec): Promise<Buffer | undefined> => {
    if (file === undefined) return undefined;
    try {
      return await readFile(file);
    } catch (err) {
      throw new ConfigError([`--${spec.flag} (${spec.env!}): cannot read ${file}: ${errorMessage(err)}`]);
    }
  };
  const o = CLIENT_TLS_OPTIONS;
  const [ca, cert, key] = await Promise.all([
    read(files.caFile, o.caFile),
    read(files.clientCertFile, o.clientCertFile),
    read(files.clientKeyFile, o.clientKeyFile),
  ]);
  return { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) };
}
