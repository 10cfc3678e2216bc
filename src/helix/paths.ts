/**
 * ZooKeeper paths of a Helix cluster as Helix and Pinot build them
 * (helix PropertyPathBuilder, pinot ZKMetadataProvider; pinot-protocol.md §1).
 * Pure string functions: no validation beyond what the templates need.
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
    /** Helix cluster config; not PROPERTYSTORE/CONFIGS/CLUSTER (pinot-protocol.md §12.24). */
    clusterConfig: () => `${root}/CONFIGS/CLUSTER/${cluster}`,
    propertyStore: store,
    tableSegments: (tableNameWithType: string) => `${store}/SEGMENTS/${tableNameWithType}`,
    segmentMetadata: (tableNameWithType: string, segment: string) => `${store}/SEGMENTS/${tableNameWithType}/${segment}`,
    tableConfig: (tableNameWithType: string) => `${store}/CONFIGS/TABLE/${tableNameWithType}`,
    pauselessDebugMetadata: (tableNameWithType: string) => `${store}/PAUSELESS_DEBUG_METADATA/${tableNameWithType}`,
  };
}

export type ClusterPaths = ReturnType<typeof clusterPaths>;

/** Last path component. */
export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** Parent path ("/" for top-level nodes). */
export function parentPath(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}
