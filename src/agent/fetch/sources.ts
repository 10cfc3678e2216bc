// Which sources `pinot-sidecar fetch` tries, in which order: Pinot's download procedure
// (docs/pinot-interop.md, "The empty download URL", "Peer download"), pure. The ZooKeeper reads that feed
// it are in cluster-view.ts.
//
// - `segment.download.url` is a URI: the deep store first; if it fails, the peers
//   (BaseTableDataManager.downloadSegment falls back to downloadSegmentFromPeers).
// - It is `""`: peers only (METADATA_URI_FOR_PEER_DOWNLOAD).
// - It is absent: nothing to download yet (COMMITTING, or a broken record); Pinot's server throws too.
// - Peers: replicas exactly `ONLINE` in the external view (PeerServerSegmentFinder; never CONSUMING, ERROR or
//   OFFLINE), shuffled on every attempt (downloadSegmentFromPeers shuffles the URI list each time). Each peer is
//   tried through its sidecar first (it streams, and says the CRC in a header), then through the Pinot server's
//   own admin endpoint, the URL PeerServerSegmentFinder builds.

import {
  DEFAULT_ADMIN_PORT,
  type InstanceEndpoint,
  type ReplicaState,
  type SegmentMetadata,
} from '../../helix/index.js';
import { FetchError } from './errors.js';

export type PeerScheme = 'http' | 'https';

/**
 * How a deep-store URI is read: S3, GCS, Azure and file stores through src/deepstore, http(s) (a controller URL)
 * directly.
 */
export type DeepStoreAccess = 's3' | 'gcs' | 'adl2' | 'file' | 'http' | 'unsupported';

export type Source =
  | { kind: 'deep-store'; uri: string; access: DeepStoreAccess; label: string }
  | { kind: 'peer'; instance: string; endpoint: 'sidecar' | 'server'; url: string; label: string };

export interface DownloadPlan {
  /** The ZooKeeper download URI, tried before the peers; null for peer-download-only segments (`""`). */
  deepStoreUri: string | null;
  /** ZooKeeper's segment.crc, which the downloaded creation.meta must match. */
  crc: string;
}

/** What the segment's ZK metadata says to do; a FetchError when nothing can be downloaded. */
export function planDownload(table: string, segment: string, meta: SegmentMetadata): DownloadPlan {
  if (meta.downloadUrl.kind === 'absent') {
    const why =
      meta.status === 'COMMITTING' || meta.status === 'IN_PROGRESS'
        ? `its status is ${meta.status}: the commit has not finished, so no replica is final yet`
        : 'the record is incomplete (status ' + meta.status + ')';
    throw new FetchError(
      `${segment} of ${table} has no segment.download.url in ZooKeeper: ${why}. Pinot's server refuses to download it too (BaseTableDataManager.downloadSegment)`,
    );
  }
  if (meta.crc === null) {
    throw new FetchError(
      `${segment} of ${table} has no valid segment.crc in ZooKeeper: a download could not be verified`,
    );
  }
  return { deepStoreUri: meta.downloadUrl.kind === 'uri' ? meta.downloadUrl.uri : null, crc: meta.crc };
}

export function deepStoreSource(uri: string): Source {
  return { kind: 'deep-store', uri, access: deepStoreAccess(uri), label: `deep store ${uri}` };
}

/**
 * Schemes as Pinot's SegmentFetcherFactory sees them; S3PinotFS takes s3 and s3a, GcsPinotFS gs, ADLSGen2PinotFS
 * adl2, LocalPinotFS `file:`.
 */
export function deepStoreAccess(uri: string): DeepStoreAccess {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(uri)?.[1]?.toLowerCase();
  if (scheme === 's3' || scheme === 's3a') return 's3';
  if (scheme === 'gs') return 'gcs';
  if (scheme === 'adl2') return 'adl2';
  if (scheme === 'file') return 'file';
  if (scheme === 'http' || scheme === 'https') return 'http';
  return 'unsupported';
}

/** The segment's replicas from the external view, split by state. `null` assignment: no external view at all. */
export interface ReplicaStates {
  /** Instances whose state is exactly ONLINE, sorted (the shuffle then decides the order). */
  online: string[];
  /** Every other replica with its state, for the message when there is no ONLINE one. */
  others: Array<{ instance: string; state: ReplicaState }>;
}

export function replicaStates(assignment: ReadonlyMap<string, ReplicaState> | undefined): ReplicaStates {
  const online: string[] = [];
  const others: ReplicaStates['others'] = [];
  for (const [instance, state] of assignment ?? []) {
    if (state === 'ONLINE') online.push(instance);
    else others.push({ instance, state });
  }
  return {
    online: online.sort(),
    others: others.sort((a, b) => (a.instance < b.instance ? -1 : a.instance > b.instance ? 1 : 0)),
  };
}

/** Why an attempt has no peer to try, in words an operator can act on. */
export function noPeerReason(table: string, segment: string, states: ReplicaStates | null): string {
  if (states === null) return `no external view for ${table} in ZooKeeper`;
  if (states.others.length === 0) return `${segment} is not in the external view of ${table}: no replica hosts it`;
  const list = states.others.map((r) => `${r.instance}: ${r.state}`).join(', ');
  return `no ONLINE replica of ${segment} in the external view (${list}); only ONLINE replicas serve segments`;
}

export interface PeerAddressing {
  table: string;
  segment: string;
  scheme: PeerScheme;
  /** The peers' sidecar port (`--peer-port`, default 9700). */
  sidecarPort: number;
}

/**
 * The two URLs of one peer: its sidecar, then the Pinot server's admin endpoint. The host is HELIX_HOST,
 * never parsed from the instance id (InstanceUtils; docs/pinot-interop.md, "ZooKeeper layout"); the admin
 * port is `adminPort` for http and `adminHttpsPort` for https, 8097 when missing (PeerServerSegmentFinder:
 * getIntField(key, DEFAULT_ADMIN_API_PORT)).
 * Names are validated to [A-Za-z0-9._-], so the path needs no encoding (the finder encodes nothing either).
 */
export function peerSources(instance: string, endpoint: InstanceEndpoint, a: PeerAddressing): Source[] {
  const host = endpoint.host.includes(':') && !endpoint.host.startsWith('[') ? `[${endpoint.host}]` : endpoint.host;
  const adminPort = a.scheme === 'https' ? (endpoint.adminHttpsPort ?? DEFAULT_ADMIN_PORT) : endpoint.adminPort;
  const path = `/segments/${a.table}/${a.segment}`;
  return (
    [
      ['sidecar', a.sidecarPort],
      ['server', adminPort],
    ] as const
  ).map(([role, port]) => {
    const url = `${a.scheme}://${host}:${port}${path}`;
    return { kind: 'peer', instance, endpoint: role, url, label: `peer ${instance} ${role} ${url}` };
  });
}

/** What ZooKeeper says about the peers at one attempt (cluster-view.ts reads it). */
export interface PeerCandidates {
  /** null when the table has no external view. */
  states: ReplicaStates | null;
  /** ONLINE instance → its endpoint, or why it has none (missing or unreadable instance config). */
  endpoints: ReadonlyMap<string, InstanceEndpoint | string>;
}

export interface PeerPlan {
  sources: Source[];
  /** Peers (or the lack of any) that cannot be tried this attempt, with the reason. */
  problems: Array<{ source: string; reason: string }>;
}

/** This attempt's peer sources: ONLINE replicas shuffled, each as sidecar then server. */
export function planPeerSources(
  candidates: PeerCandidates,
  a: PeerAddressing,
  random: () => number = Math.random,
): PeerPlan {
  const { states } = candidates;
  if (states === null || states.online.length === 0) {
    return { sources: [], problems: [{ source: 'peers', reason: noPeerReason(a.table, a.segment, states) }] };
  }
  const plan: PeerPlan = { sources: [], problems: [] };
  for (const instance of shuffle(states.online, random)) {
    const endpoint = candidates.endpoints.get(instance) ?? `no instance config read for ${instance}`;
    if (typeof endpoint === 'string') plan.problems.push({ source: `peer ${instance}`, reason: endpoint });
    else plan.sources.push(...peerSources(instance, endpoint, a));
  }
  return plan;
}

/** Fisher–Yates with an injectable source of randomness (tests fix the order). Returns a new array. */
export function shuffle<T>(items: readonly T[], random: () => number = Math.random): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.min(i, Math.floor(random() * (i + 1)));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
