/**
 * ZooKeeper paths of a Helix cluster as Helix and Pinot build them (Helix PropertyPathBuilder, Pinot
 * ZKMetadataProvider; docs/pinot-interop.md, "ZooKeeper layout"). Pure string templates that trust their
 * arguments: a name read from a record's contents goes through pathComponentProblem first.
 */
export function clusterPaths(cluster: string) {
  const root = `/${cluster}`;
  const store = `${root}/PROPERTYSTORE`;
  return {
    root,
    liveInstance: (instance: string) => `${root}/LIVEINSTANCES/${instance}`,
    currentStates: (instance: string, sessionId: string) => `${root}/INSTANCES/${instance}/CURRENTSTATES/${sessionId}`,
    currentState: (instance: string, sessionId: string, tableNameWithType: string) =>
      `${root}/INSTANCES/${instance}/CURRENTSTATES/${sessionId}/${tableNameWithType}`,
    idealState: (tableNameWithType: string) => `${root}/IDEALSTATES/${tableNameWithType}`,
    externalView: (tableNameWithType: string) => `${root}/EXTERNALVIEW/${tableNameWithType}`,
    instanceConfig: (instance: string) => `${root}/CONFIGS/PARTICIPANT/${instance}`,
    /** Every participant's instance config (servers, brokers, controllers, minions). */
    instanceConfigs: `${root}/CONFIGS/PARTICIPANT`,
    /** Helix cluster config; not PROPERTYSTORE/CONFIGS/CLUSTER, Pinot's controller config (ZKMetadataProvider). */
    clusterConfig: () => `${root}/CONFIGS/CLUSTER/${cluster}`,
    propertyStore: store,
    tableSegments: (tableNameWithType: string) => `${store}/SEGMENTS/${tableNameWithType}`,
    segmentMetadata: (tableNameWithType: string, segment: string) =>
      `${store}/SEGMENTS/${tableNameWithType}/${segment}`,
    tableConfig: (tableNameWithType: string) => `${store}/CONFIGS/TABLE/${tableNameWithType}`,
    pauselessDebugMetadata: (tableNameWithType: string) => `${store}/PAUSELESS_DEBUG_METADATA/${tableNameWithType}`,
  };
}

export type ClusterPaths = ReturnType<typeof clusterPaths>;

/** Parent path ("/" for top-level nodes). */
export function parentPath(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

/**
 * Longest name the sidecar puts into a ZooKeeper path, in UTF-8 bytes. ZooKeeper itself has no
 * per-component limit, but a request bigger than the server's jute.maxbuffer makes it drop the
 * connection (every request in flight fails with it), so an absurd name must never reach the wire.
 * Real names are far shorter: Helix session ids are 16 hex digits, and a segment name is also a
 * directory name on the server's disk (255 bytes on Linux).
 */
export const MAX_PATH_COMPONENT_BYTES = 1024;

/**
 * Why `name` cannot be one component of a ZooKeeper path, or null when it can. The rules are
 * ZooKeeper's own (org.apache.zookeeper.common.PathUtils.validatePath, which the Java client applies
 * to every request and the server to every create): no empty name, no "." or "..", no "/", no NUL,
 * none of the characters it refuses. So a name that breaks them was never a znode Helix or Pinot
 * created; joined into a path it would name another node ("a/b", "x/../y") or make the request fail
 * every time it is retried. Names come from record contents (current-state mapFields keys, a live
 * instance's SESSION_ID), which nothing validates.
 */
export function pathComponentProblem(name: string): string | null {
  if (name === '') return 'empty name';
  if (name === '.' || name === '..') return `relative path component "${name}"`;
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > MAX_PATH_COMPONENT_BYTES) return `${bytes} bytes long (at most ${MAX_PATH_COMPONENT_BYTES})`;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c === 0x2f) return `contains "/" at ${i}`;
    if (c === 0) return `contains a NUL character at ${i}`;
    if (refusedByZooKeeper(c))
      return `contains character U+${c.toString(16).toUpperCase().padStart(4, '0')} at ${i}, which ZooKeeper refuses`;
  }
  return null;
}

/**
 * The UTF-16 code units PathUtils.validatePath refuses: control characters, C1 controls, surrogates
 * (so any character outside the BMP) and the private-use area, and U+FFF0..U+FFFF.
 */
function refusedByZooKeeper(c: number): boolean {
  return (
    (c >= 0x01 && c <= 0x1f) || (c >= 0x7f && c <= 0x9f) || (c >= 0xd800 && c <= 0xf8ff) || (c >= 0xfff0 && c <= 0xffff)
  );
}

/** A name from a record, fit for a log line or an error message: JSON-quoted, cut when very long. */
export function namePreview(name: string, maxChars = 120): string {
  return name.length <= maxChars
    ? JSON.stringify(name)
    : `${JSON.stringify(name.slice(0, maxChars))}... (${name.length} chars)`;
}
