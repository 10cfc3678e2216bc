import { describe, expect, it } from 'vitest';
import { SERVE_OPTIONS } from '../../src/agent/config.js';
import {
  at,
  containerEnv,
  dockerPath,
  isObj,
  listAt,
  objAt,
  parseProperties,
  prop,
  readText,
  readYaml,
  readYamlDocuments,
  type Obj,
} from './support.js';

const ALERTS = [
  'PinotSidecarSegmentsMissingDeepStore',
  'PinotSidecarCommitStuck',
  'PinotSidecarPauselessUnrecoverableError',
  'PinotSidecarDeepStoreUploadFailures',
  'PinotSidecarZooKeeperDisconnected',
];

const values = readYaml<Obj>(dockerPath('kubernetes', 'pinot-helm-values.yaml'));
const plain = readYamlDocuments(dockerPath('kubernetes', 'pinot-server-statefulset.yaml')) as Obj[];
const statefulSet = plain.find((d) => d.kind === 'StatefulSet')!;
const podSpec = objAt(statefulSet, 'spec', 'template', 'spec');
const sidecarService = readYaml<Obj>(dockerPath('kubernetes', 'sidecar-service.yaml'));
const serviceMonitor = readYaml<Obj>(dockerPath('kubernetes', 'servicemonitor.yaml'));
const prometheusRule = readYaml<Obj>(dockerPath('kubernetes', 'prometheusrule.yaml'));
const alertsFile = readYaml<Obj>(dockerPath('prometheus', 'alerts.yml'));

function byName(list: unknown[], name: string): Obj {
  const found = list.find((c) => isObj(c) && c.name === name);
  if (!isObj(found)) throw new Error(`no ${name}`);
  return found;
}

function sidecarOf(initContainers: unknown[]): Obj {
  return byName(initContainers, 'pinot-sidecar');
}

/** The port number a probe or Service targets, resolving a named port against the container. */
function portNumber(port: unknown, container: Obj): number {
  if (typeof port === 'number') return port;
  return Number(byName(listAt(container, 'ports'), String(port)).containerPort);
}

const mebibytes = (q: string): number => {
  const m = /^(\d+)(Mi|Gi)$/.exec(q);
  if (!m) throw new Error(`unexpected quantity ${q}`);
  return Number(m[1]) * (m[2] === 'Gi' ? 1024 : 1);
};

/** Everything the sidecar container must satisfy, wherever it is declared; `volumes` are the pod's. */
function checkSidecar(sidecar: Obj, volumes: unknown[], dataMountPath: string, dataDir: string): void {
  // Native sidecar: an init container that keeps running.
  expect(sidecar.restartPolicy).toBe('Always');

  // The server's data volume ("data" in the chart and the example), read-only, at the server's path.
  const mounts = listAt(sidecar, 'volumeMounts') as Obj[];
  const data = byName(mounts, 'data');
  expect(data.readOnly).toBe(true);
  expect(data.mountPath).toBe(dataMountPath);
  const env = containerEnv(sidecar);
  expect(env.get(SERVE_OPTIONS.dataDir.env)).toBe(dataDir);
  expect(dataDir.startsWith(`${dataMountPath}/`)).toBe(true);

  // Temp dir on a size-limited emptyDir; the root filesystem read-only.
  const tmpDir = env.get(SERVE_OPTIONS.tmpDir.env)!;
  expect(env.get('TMPDIR')).toBe(tmpDir);
  const tmpMount = mounts.find((m) => tmpDir === m.mountPath || tmpDir.startsWith(`${String(m.mountPath)}/`))!;
  expect(tmpMount.readOnly).not.toBe(true);
  const tmpVolume = byName(volumes, String(tmpMount.name));
  expect(mebibytes(String(at(tmpVolume, 'emptyDir', 'sizeLimit')))).toBeGreaterThan(0);

  const security = objAt(sidecar, 'securityContext');
  expect(security.readOnlyRootFilesystem).toBe(true);
  expect(security.runAsNonRoot).toBe(true);
  expect(security.allowPrivilegeEscalation).toBe(false);
  expect(at(security, 'capabilities', 'drop')).toEqual(['ALL']);
  expect(Number(security.runAsUser)).toBeGreaterThan(0);

  // Probes: started/alive on /health/live, ready on /health/ready, all on the serve port.
  const port = Number(SERVE_OPTIONS.port.default);
  const probe = (kind: string) => objAt(sidecar, kind, 'httpGet');
  for (const [kind, path] of [
    ['startupProbe', '/health/live'],
    ['livenessProbe', '/health/live'],
    ['readinessProbe', '/health/ready'],
  ] as const) {
    expect(probe(kind).path, kind).toBe(path);
    expect(portNumber(probe(kind).port, sidecar), kind).toBe(port);
  }
  expect(env.get(SERVE_OPTIONS.port.env) ?? SERVE_OPTIONS.port.default).toBe(String(port));

  // Resources sized for the benchmarks: a memory limit of 256-384 MiB, requests at most the limit.
  const limit = mebibytes(String(at(sidecar, 'resources', 'limits', 'memory')));
  expect(limit).toBeGreaterThanOrEqual(256);
  expect(limit).toBeLessThanOrEqual(384);
  expect(mebibytes(String(at(sidecar, 'resources', 'requests', 'memory')))).toBeLessThanOrEqual(limit);

  // The instance id comes from the downward API.
  expect(env.get(SERVE_OPTIONS.instance.env)).toMatch(/^Server_\$\(POD_NAME\)\..+_8098$/);
  const fieldRefs = (sidecar.env as Obj[])
    .filter((e) => isObj(e.valueFrom))
    .map((e) => [e.name, at(e, 'valueFrom', 'fieldRef', 'fieldPath')]);
  expect(fieldRefs).toEqual(expect.arrayContaining([['POD_NAME', 'metadata.name']]));
  // $(VAR) only expands variables defined earlier in the list.
  const names = (sidecar.env as Obj[]).map((e) => String(e.name));
  for (const entry of sidecar.env as Obj[]) {
    for (const ref of String(entry.value ?? '').matchAll(/\$\((\w+)\)/g))
      expect(names.indexOf(ref[1]!), `${String(entry.name)} uses ${ref[1]!}`).toBeLessThan(
        names.indexOf(String(entry.name)),
      );
  }
}

/** The init container that creates the server's dataDir must run (to completion) before the sidecar. */
function checkDataDirFirst(initContainers: unknown[], dataDir: string): void {
  const names = initContainers.map((c) => (c as Obj).name);
  const mkdir = byName(initContainers, 'pinot-data-dir');
  expect(names.indexOf('pinot-data-dir')).toBeLessThan(names.indexOf('pinot-sidecar'));
  expect(mkdir.restartPolicy).toBeUndefined();
  expect(listAt(mkdir, 'command')).toEqual(['mkdir', '-p', dataDir]);
}

describe('Kubernetes: values for the official Pinot Helm chart', () => {
  const server = objAt(values, 'server');
  const initContainers = listAt(server, 'initContainers');
  const dataDir = String(server.dataDir);
  const serverConf = parseProperties(String(at(server, 'extra', 'configs')));
  const controllerConf = parseProperties(String(at(values, 'controller', 'extra', 'configs')));

  it('adds the sidecar to server.initContainers as a native sidecar with read-only data, probes, limits', () => {
    checkSidecar(
      sidecarOf(initContainers),
      listAt(server, 'persistence', 'extraVolumes'),
      String(at(server, 'persistence', 'mountPath')),
      dataDir,
    );
    checkDataDirFirst(initContainers, dataDir);
  });

  it("agrees with the chart's Pinot settings: cluster, deep store, server config", () => {
    const env = containerEnv(sidecarOf(initContainers));
    expect(env.get(SERVE_OPTIONS.cluster.env)).toBe(at(values, 'cluster', 'name'));
    const deepStore = String(at(values, 'controller', 'data', 'dir'));
    expect(deepStore).toMatch(/^s3:\/\//);
    expect(env.get(SERVE_OPTIONS.deepStore.env)).toBe(deepStore);
    expect(prop(serverConf, 'pinot.server.instance.segment.store.uri')).toBe(deepStore);
    // The chart's default extra.configs lines are kept (the value replaces the whole block).
    expect(prop(serverConf, 'pinot.set.instance.id.to.hostname')).toBe('true');
    expect(prop(controllerConf, 'pinot.set.instance.id.to.hostname')).toBe('true');
    expect(prop(controllerConf, 'pinot.controller.storage.factory.class.s3')).toBe(
      'org.apache.pinot.plugin.filesystem.S3PinotFS',
    );
    expect(prop(serverConf, 'pinot.server.storage.factory.class.s3')).toBe(
      'org.apache.pinot.plugin.filesystem.S3PinotFS',
    );
    expect(prop(serverConf, 'pinot.server.storage.factory.s3.region')).toBe(env.get(SERVE_OPTIONS.s3Region.env));
    // Pinot itself and the sidecar run the same pinned Pinot release.
    expect(byName(initContainers, 'pinot-data-dir').image).toBe(
      `${String(at(values, 'image', 'repository'))}:${String(at(values, 'image', 'tag'))}`,
    );
  });

  it('leaves time for the sidecar to drain after the server stops', () => {
    const grace = Number(containerEnv(sidecarOf(initContainers)).get(SERVE_OPTIONS.shutdownGraceS.env));
    expect(Number(values.terminationGracePeriodSeconds)).toBeGreaterThan(grace + 30);
  });
});

describe('Kubernetes: plain StatefulSet example', () => {
  const initContainers = listAt(podSpec, 'initContainers');
  const server = byName(listAt(podSpec, 'containers'), 'server');
  const config = plain.find((d) => d.kind === 'ConfigMap')!;
  const serverConf = parseProperties(String(at(config, 'data', 'pinot-server.conf')));
  const dataDir = prop(serverConf, 'pinot.server.instance.dataDir');
  const serverData = byName(listAt(server, 'volumeMounts'), 'data');

  it('runs the sidecar as a native sidecar on the read-only data volume the server writes', () => {
    checkSidecar(sidecarOf(initContainers), listAt(podSpec, 'volumes'), String(serverData.mountPath), dataDir);
    checkDataDirFirst(initContainers, dataDir);
    expect(serverData.readOnly ?? false).toBe(false);
    expect(listAt(statefulSet, 'spec', 'volumeClaimTemplates').map((t) => at(t, 'metadata', 'name'))).toContain('data');
  });

  it('declares the same init containers as the Helm values', () => {
    expect(initContainers).toEqual(listAt(values, 'server', 'initContainers'));
  });

  it('matches the instance id the server registers and the cluster it joins', () => {
    const env = containerEnv(sidecarOf(initContainers));
    expect(prop(serverConf, 'pinot.set.instance.id.to.hostname')).toBe('true');
    // <pod>.<serviceName>: the canonical hostname a StatefulSet pod gets.
    expect(env.get(SERVE_OPTIONS.instance.env)).toContain(
      `$(POD_NAME).${String(at(statefulSet, 'spec', 'serviceName'))}.$(POD_NAMESPACE).`,
    );
    expect(env.get(SERVE_OPTIONS.instance.env)).toMatch(new RegExp(`_${prop(serverConf, 'pinot.server.netty.port')}$`));
    const args = listAt(server, 'args').map(String);
    expect(env.get(SERVE_OPTIONS.cluster.env)).toBe(args[args.indexOf('-clusterName') + 1]);
    expect(env.get(SERVE_OPTIONS.zk.env)).toBe(args[args.indexOf('-zkAddress') + 1]);
    expect(env.get(SERVE_OPTIONS.deepStore.env)).toBe(prop(serverConf, 'pinot.server.instance.segment.store.uri'));
    const headless = plain.find(
      (d) => d.kind === 'Service' && at(d, 'metadata', 'name') === at(statefulSet, 'spec', 'serviceName'),
    )!;
    expect(at(headless, 'spec', 'clusterIP')).toBe('None');
  });
});

describe('Kubernetes: Service, ServiceMonitor, PrometheusRule', () => {
  it('exposes the sidecar port of the server pods, ready or not', () => {
    const podLabels = objAt(statefulSet, 'spec', 'template', 'metadata', 'labels');
    expect(podLabels).toMatchObject(objAt(sidecarService, 'spec', 'selector'));
    expect(at(sidecarService, 'spec', 'publishNotReadyAddresses')).toBe(true);
    const port = byName(listAt(sidecarService, 'spec', 'ports'), 'http-sidecar');
    expect(portNumber(port.targetPort, sidecarOf(listAt(podSpec, 'initContainers')))).toBe(
      Number(SERVE_OPTIONS.port.default),
    );
    expect(port.port).toBe(Number(SERVE_OPTIONS.port.default));
  });

  it('scrapes /metrics through that Service', () => {
    expect(serviceMonitor.kind).toBe('ServiceMonitor');
    expect(objAt(sidecarService, 'metadata', 'labels')).toMatchObject(
      objAt(serviceMonitor, 'spec', 'selector', 'matchLabels'),
    );
    const endpoint = listAt(serviceMonitor, 'spec', 'endpoints')[0] as Obj;
    expect(listAt(sidecarService, 'spec', 'ports').map((p) => (p as Obj).name)).toContain(endpoint.port);
    expect(endpoint.path).toBe('/metrics');
  });

  it('has exactly the five alerts, with the same groups as docker/prometheus/alerts.yml', () => {
    expect(prometheusRule.kind).toBe('PrometheusRule');
    const groups = listAt(prometheusRule, 'spec', 'groups');
    // If this fails: copy the `groups:` list of docker/prometheus/alerts.yml into prometheusrule.yaml spec.groups.
    expect(groups).toEqual(listAt(alertsFile, 'groups'));
    const alerts = groups.flatMap((g) => listAt(g, 'rules')).map((r) => (r as Obj).alert);
    expect([...alerts].sort()).toEqual([...ALERTS].sort());
  });

  it('annotates every alert with summary, description and a README runbook anchor', () => {
    for (const rule of listAt(alertsFile, 'groups').flatMap((g) => listAt(g, 'rules')) as Obj[]) {
      const annotations = objAt(rule, 'annotations');
      expect(String(annotations.summary).length, String(rule.alert)).toBeGreaterThan(10);
      expect(String(annotations.description).length, String(rule.alert)).toBeGreaterThan(40);
      expect(annotations.runbook_url).toBe(`README.md#runbook-${String(rule.alert).toLowerCase()}`);
      expect(['warning', 'critical']).toContain(at(rule, 'labels', 'severity'));
      expect(String(rule.alert)).toMatch(/^PinotSidecar[A-Z][A-Za-z]+$/);
    }
  });

  it('lists every alert and its runbook anchor in docker/README.md', () => {
    const readme = readText(dockerPath('README.md'));
    const tableRows = readme.split('\n').filter((l) => l.startsWith('|'));
    for (const alert of ALERTS) {
      const row = tableRows.find((l) => l.includes(alert));
      expect(row, `${alert} in the README alert table`).toBeDefined();
      expect(row).toContain(`runbook-${alert.toLowerCase()}`);
    }
  });
});
