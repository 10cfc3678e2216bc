import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseServeConfig, SERVE_OPTIONS } from '../../src/agent/config.js';
import { at, containerEnv, dockerPath, isObj, listAt, objAt, readYamlDocuments, type Obj } from './support.js';

/** docker/kubernetes/sidecar-tls.yaml: cert-manager Certificates and the StatefulSet patch, checked by structure. */
const docs = readYamlDocuments(dockerPath('kubernetes', 'sidecar-tls.yaml')).filter(isObj);
const certificates = docs.filter((d) => d.kind === 'Certificate');
const patch = docs.find((d) => d.kind === 'StatefulSet')!;
const base = (readYamlDocuments(dockerPath('kubernetes', 'pinot-server-statefulset.yaml')) as Obj[]).find(
  (d) => d.kind === 'StatefulSet',
)!;

function byName(list: unknown[], name: string): Obj {
  const found = list.find((c) => isObj(c) && c.name === name);
  if (!isObj(found)) throw new Error(`no ${name}`);
  return found;
}

const certificate = (name: string) => certificates.find((c) => at(c, 'metadata', 'name') === name)!;
const patchSpec = objAt(patch, 'spec', 'template', 'spec');
const sidecar = byName(listAt(patchSpec, 'initContainers'), 'pinot-sidecar');
const env = containerEnv(sidecar);

describe('Kubernetes: TLS with cert-manager', () => {
  it('patches the pinot-sidecar container of the pinot-server StatefulSet', () => {
    expect(at(patch, 'metadata', 'name')).toBe(at(base, 'metadata', 'name'));
    byName(listAt(base, 'spec', 'template', 'spec', 'initContainers'), 'pinot-sidecar');
    const baseVolumes = listAt(base, 'spec', 'template', 'spec', 'volumes').map((v) => (v as Obj).name);
    for (const v of listAt(patchSpec, 'volumes')) expect(baseVolumes).not.toContain((v as Obj).name);
  });

  it("mounts the serving Certificate's Secret as a whole directory, read-only, where the env points", () => {
    const serving = certificate('pinot-sidecar-tls');
    expect(listAt(serving, 'spec', 'usages')).toContain('server auth');
    expect(at(serving, 'spec', 'privateKey', 'rotationPolicy')).toBe('Always');
    const volume = listAt(patchSpec, 'volumes').find((v) => at(v, 'secret', 'secretName') === at(serving, 'spec', 'secretName')) as Obj;
    expect(volume).toBeDefined();
    const mount = byName(listAt(sidecar, 'volumeMounts'), String(volume.name));
    expect(mount.readOnly).toBe(true);
    // A subPath mount is never updated by the kubelet: rotation would never reach the sidecar.
    expect(mount.subPath).toBeUndefined();
    // cert-manager's Secret keys, in the mounted directory.
    expect(env.get(SERVE_OPTIONS.tlsCertFile.env)).toBe(path.posix.join(String(mount.mountPath), 'tls.crt'));
    expect(env.get(SERVE_OPTIONS.tlsKeyFile.env)).toBe(path.posix.join(String(mount.mountPath), 'tls.key'));
    expect(env.get(SERVE_OPTIONS.tlsClientCaFile.env)).toBe(path.posix.join(String(mount.mountPath), 'ca.crt'));
  });

  it("covers every server pod's DNS name under the headless Service", () => {
    const service = String(at(base, 'spec', 'serviceName'));
    const names = listAt(certificate('pinot-sidecar-tls'), 'spec', 'dnsNames').map(String);
    expect(names).toContain(`*.${service}.pinot.svc.cluster.local`);
  });

  it('lets in the Pinot servers\' client certificate, issued as the PKCS12 keystore HttpsSegmentFetcher reads', () => {
    const client = certificate('pinot-server-client');
    expect(listAt(client, 'spec', 'usages')).toContain('client auth');
    expect(at(client, 'spec', 'keystores', 'pkcs12', 'create')).toBe(true);
    expect(env.get(SERVE_OPTIONS.tlsClientAllow.env)!.split(',')).toContain(at(client, 'spec', 'commonName'));
    expect(at(client, 'spec', 'issuerRef')).toEqual(at(certificate('pinot-sidecar-tls'), 'spec', 'issuerRef'));
  });

  it('moves every probe to the plain probe port, which the container declares', () => {
    const probePort = Number(env.get(SERVE_OPTIONS.httpPort.env));
    expect(probePort).not.toBe(Number(SERVE_OPTIONS.port.default));
    expect(byName(listAt(sidecar, 'ports'), 'http-probes').containerPort).toBe(probePort);
    for (const [kind, probePath] of [
      ['startupProbe', '/health/live'],
      ['livenessProbe', '/health/live'],
      ['readinessProbe', '/health/ready'],
    ] as const) {
      expect(at(sidecar, kind, 'httpGet', 'path'), kind).toBe(probePath);
      expect(at(sidecar, kind, 'httpGet', 'port'), kind).toBe(probePort);
    }
  });

  it('is a configuration serve accepts, merged over the base container', () => {
    const baseEnv = containerEnv(byName(listAt(base, 'spec', 'template', 'spec', 'initContainers'), 'pinot-sidecar'));
    const merged: NodeJS.ProcessEnv = {};
    for (const [k, v] of [...baseEnv, ...env]) if (v !== undefined) merged[k] = v;
    const config = parseServeConfig([], merged);
    expect(config.tlsClientCaFile).toBeDefined();
    expect(config.httpPort).toBe(9701);
  });
});

/** docker/kubernetes/pinot-helm-values-tls.yaml: the Helm overlay, checked against the base values it repeats. */
describe('Helm: the TLS values overlay', () => {
  const helmBase = (readYamlDocuments(dockerPath('kubernetes', 'pinot-helm-values.yaml')) as Obj[])[0]!;
  const helmTls = (readYamlDocuments(dockerPath('kubernetes', 'pinot-helm-values-tls.yaml')) as Obj[])[0]!;
  const baseInit = listAt(helmBase, 'server', 'initContainers') as Obj[];
  const tlsInit = listAt(helmTls, 'server', 'initContainers') as Obj[];
  const tlsSidecar = byName(tlsInit, 'pinot-sidecar');
  const baseSidecar = byName(baseInit, 'pinot-sidecar');

  it('repeats the base init containers unchanged except the sidecar (Helm replaces lists)', () => {
    expect(tlsInit.map((c) => c.name)).toEqual(baseInit.map((c) => c.name));
    for (const c of baseInit.filter((c) => c.name !== 'pinot-sidecar')) expect(byName(tlsInit, String(c.name))).toEqual(c);
  });

  it('is the base sidecar plus the TLS env, the probe port, and the Secret mounted as a directory', () => {
    const { env: tlsEnvList, ports, volumeMounts, startupProbe, livenessProbe, readinessProbe, ...rest } = tlsSidecar;
    const { env: baseEnvList, ports: basePorts, volumeMounts: baseMounts, ...baseRest } = baseSidecar;
    const probes = { startupProbe, livenessProbe, readinessProbe };
    for (const [name, probe] of Object.entries(probes)) {
      expect(at(probe as Obj, 'httpGet', 'port'), name).toBe('http-probes');
      const baseProbe = baseRest[name] as Obj;
      expect({ ...(probe as Obj), httpGet: { ...(at(probe as Obj, 'httpGet') as Obj), port: 'http-sidecar' } }).toEqual(baseProbe);
      delete baseRest[name];
    }
    expect(rest).toEqual(baseRest);
    expect((tlsEnvList as Obj[]).slice(0, (baseEnvList as Obj[]).length)).toEqual(baseEnvList);
    expect((ports as Obj[]).slice(0, (basePorts as Obj[]).length)).toEqual(basePorts);
    expect(byName(ports as Obj[], 'http-probes').containerPort).toBe(9701);
    expect((volumeMounts as Obj[]).slice(0, (baseMounts as Obj[]).length)).toEqual(baseMounts);
    expect(byName(volumeMounts as Obj[], 'sidecar-tls')).toMatchObject({ mountPath: '/etc/pinot-sidecar/tls', readOnly: true });
  });

  it('declares the Secret volume next to the base volumes, and serve accepts the merged env', () => {
    const baseVolumes = listAt(helmBase, 'server', 'persistence', 'extraVolumes');
    const volumes = listAt(helmTls, 'server', 'persistence', 'extraVolumes');
    expect(volumes.slice(0, baseVolumes.length)).toEqual(baseVolumes);
    expect(at(byName(volumes, 'sidecar-tls'), 'secret', 'secretName')).toBe(at(certificate('pinot-sidecar-tls'), 'spec', 'secretName'));
    const merged: NodeJS.ProcessEnv = {};
    for (const [k, v] of containerEnv(tlsSidecar)) if (v !== undefined && !v.includes('$(')) merged[k] = v;
    const config = parseServeConfig(['--instance', 'Server_x_8098'], merged);
    expect([config.tlsCertFile, config.httpPort]).toEqual(['/etc/pinot-sidecar/tls/tls.crt', 9701]);
  });
});
