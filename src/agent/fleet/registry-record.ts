// The sidecar registry in ZooKeeper (issue 16): where each sidecar's entry lives, what it holds, and how it is read
// back. Pure: no ZooKeeper, no clock; registration.ts writes the entries, fleet-query.ts reads them.

import { z } from 'zod';
import { SidecarError } from '../../errors.js';

/**
 * `<sidecarRoot>/<cluster>`: everything the sidecars of one cluster keep in ZooKeeper (upload locks, the registry),
 * under their own root (`--lock-root`), never inside the Pinot cluster tree, where Helix and Pinot own every node.
 */
export function sidecarClusterRoot(sidecarRoot: string, cluster: string): string {
  return `${sidecarRoot.replace(/\/+$/, '')}/${cluster}`;
}

/** `<sidecarRoot>/<cluster>/sidecars`: one ephemeral child per running sidecar, named by its Helix instance id. */
export function registryPath(sidecarRoot: string, cluster: string): string {
  return `${sidecarClusterRoot(sidecarRoot, cluster)}/sidecars`;
}

/** `<sidecarRoot>/<cluster>/sidecars/<instance>`: the one function every writer and reader builds the path with. */
export function registrationPath(sidecarRoot: string, cluster: string, instance: string): string {
  return `${registryPath(sidecarRoot, cluster)}/${instance}`;
}

/** What the fleet view needs to find and describe a sidecar without asking it. */
export const registrationSchema = z.object({
  /** Base URL the other sidecars and `fleet status` reach this sidecar at. */
  url: z.string().regex(/^https?:\/\/[^\s/]+\/?$/, 'expected http(s)://host:port'),
  /** The package version (package.json) of the running sidecar. */
  version: z.string(),
  /** ISO time this process started. */
  startedAt: z.string(),
  /** The endpoints it answers (`fleet-summary`, `segment-download`, ...): a newer CLI asks an older sidecar safely. */
  capabilities: z.array(z.string()),
  zone: z.string().optional(),
  /**
   * Where `zone` came from: `flag` (`--zone`, the operator's word) or `instance-config` (the server's failure
   * domain when the sidecar registered, which an operator may change since: only a live answer confirms it).
   * Absent in entries of sidecars older than the field, which registered only `--zone`.
   */
  zoneFrom: z.enum(['flag', 'instance-config']).optional(),
});

export type Registration = z.infer<typeof registrationSchema>;

/** The znode's bytes: compact JSON (ZooKeeper data is small and read by machines). */
export function encodeRegistration(registration: Registration): Buffer {
  return Buffer.from(JSON.stringify(registration));
}

/** A registry entry that is not a registration this CLI understands (not JSON, or a field missing). */
export class RegistrationParseError extends SidecarError {
  constructor(path: string, problem: string) {
    super(`registry entry ${path} is unreadable: ${problem}`);
  }
}

/** The znode's bytes as a Registration; RegistrationParseError says what is wrong. */
export function decodeRegistration(path: string, data: Buffer | null): Registration {
  let json: unknown;
  try {
    json = JSON.parse((data ?? Buffer.alloc(0)).toString('utf8'));
  } catch (err) {
    throw new RegistrationParseError(path, `not JSON (${(err as Error).message})`);
  }
  const parsed = registrationSchema.safeParse(json);
  if (!parsed.success)
    throw new RegistrationParseError(
      path,
      parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; '),
    );
  return parsed.data;
}

/**
 * The advertised URL when `--advertise-url` is not given: the server's host as Helix knows it (the instance
 * config's HELIX_HOST, which Pinot's servers and brokers already use to reach it; InstanceConfig.getHostName) and
 * the sidecar's `--port`, over https when the port serves TLS (--tls-cert-file). An IPv6 literal is bracketed.
 */
export function defaultAdvertiseUrl(host: string, port: number, options: { tls?: boolean } = {}): string {
  const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return `${options.tls === true ? 'https' : 'http'}://${h}:${port}`;
}
