import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SERVE_OPTIONS } from '../../src/agent/config.js';
import {
  at,
  dockerDir,
  dockerPath,
  isObj,
  listAt,
  objAt,
  parseProperties,
  prop,
  readJson,
  readText,
  readYaml,
  repoRoot,
  type Obj,
} from './support.js';

const compose = readYaml<Obj>(dockerPath('compose.yaml'));
const services = objAt(compose, 'services');
const controllerConf = parseProperties(readText(dockerPath('pinot', 'controller.conf')));
const serverConf = parseProperties(readText(dockerPath('pinot', 'server.conf')));

function service(name: string): Obj {
  return objAt(services, name);
}

/** A service's environment as a map, whether written as a mapping or as KEY=VALUE items. */
function env(name: string): Map<string, string> {
  const raw = service(name).environment;
  const out = new Map<string, string>();
  if (Array.isArray(raw)) {
    for (const item of raw as string[]) {
      const eq = item.indexOf('=');
      out.set(item.slice(0, eq), item.slice(eq + 1));
    }
  } else if (isObj(raw)) {
    for (const [k, v] of Object.entries(raw)) out.set(k, String(v));
  }
  return out;
}

function envValue(name: string, key: string): string {
  const value = env(name).get(key);
  if (value === undefined) throw new Error(`${name} has no ${key}`);
  return value;
}

interface Mount {
  type: string;
  source: string | undefined;
  target: string;
  readOnly: boolean;
}

/** Short (`src:dst[:ro]`) and long volume syntax, normalised. */
function mounts(name: string): Mount[] {
  return ((service(name).volumes as unknown[] | undefined) ?? []).map((v) => {
    if (typeof v === 'string') {
      const [source, target, mode] = v.split(':');
      const bind = source!.startsWith('.') || source!.startsWith('/');
      return {
        type: bind ? 'bind' : 'volume',
        source,
        target: target!,
        readOnly: mode?.split(',').includes('ro') ?? false,
      };
    }
    const m = v as Obj;
    return {
      type: String(m.type),
      source: m.source === undefined ? undefined : String(m.source),
      target: String(m.target),
      readOnly: m.read_only === true,
    };
  });
}

/** The host directory behind a relative bind mount (relative to the compose file). */
function bindSource(mount: Mount): string {
  return path.resolve(dockerDir, mount.source!);
}

/** A service's command as whitespace-separated tokens (exec form, or the script of an `sh -c` entrypoint). */
function command(name: string): string[] {
  const cmd = service(name).command;
  return (Array.isArray(cmd) ? cmd.map(String) : [String(cmd)])
    .flatMap((part) => part.split(/\s+/))
    .filter((t) => t !== '');
}

function flag(argv: string[], name: string): string {
  const i = argv.indexOf(name);
  if (i < 0 || i + 1 >= argv.length) throw new Error(`no ${name} in ${argv.join(' ')}`);
  return argv[i + 1]!;
}

/** Resolve a path inside a container to the repository file behind a read-only bind mount. */
function hostFileFor(serviceName: string, containerPath: string): string {
  const mount = mounts(serviceName).find((m) => m.type === 'bind' && containerPath.startsWith(`${m.target}/`));
  if (!mount) throw new Error(`${serviceName}: ${containerPath} is not under a bind mount`);
  return path.join(bindSource(mount), containerPath.slice(mount.target.length + 1));
}

const sidecarDataMount = (): Mount => {
  const dataDir = envValue('sidecar', SERVE_OPTIONS.dataDir.env);
  const mount = mounts('sidecar').find((m) => m.type === 'volume' && `${dataDir}/`.startsWith(`${m.target}/`));
  if (!mount) throw new Error('the sidecar data dir is not on a volume');
  return mount;
};

describe('docker/compose.yaml', () => {
  it('has the whole stack', () => {
    for (const name of [
      'zookeeper',
      'pinot-controller',
      'pinot-broker',
      'pinot-server',
      'sidecar',
      'minio',
      'prometheus',
      'grafana',
    ]) {
      expect(services, name).toHaveProperty(name);
    }
  });

  it('pins every image; Pinot is the official image at a 1.x release', () => {
    for (const [name, svc] of Object.entries(services)) {
      if (!isObj(svc) || svc.build !== undefined) continue;
      const image = String(svc.image);
      expect(image, name).toMatch(/:[^:]+$/);
      expect(image, name).not.toMatch(/:latest$/);
    }
    for (const name of ['pinot-controller', 'pinot-broker', 'pinot-server'])
      expect(service(name).image).toMatch(/^apachepinot\/pinot:1\.\d+\.\d+$/);
  });

  it('builds the sidecar from docker/Dockerfile with the repository root as context', () => {
    const build = objAt(service('sidecar'), 'build');
    const context = path.resolve(dockerDir, String(build.context));
    expect(context).toBe(repoRoot);
    expect(existsSync(path.join(context, String(build.dockerfile)))).toBe(true);
    expect(path.join(context, String(build.dockerfile))).toBe(dockerPath('Dockerfile'));
  });

  it("shares the server's data volume: read-write for the server, read-only for the sidecar", () => {
    const sidecar = sidecarDataMount();
    expect(sidecar.readOnly).toBe(true);
    const server = mounts('pinot-server').filter((m) => m.type === 'volume' && m.source === sidecar.source);
    expect(server).toHaveLength(1);
    expect(server[0]!.readOnly).toBe(false);
    expect(objAt(compose, 'volumes')).toHaveProperty(sidecar.source!);
    // Same path in both containers, so the sidecar's data dir is the server's dataDir.
    expect(server[0]!.target).toBe(sidecar.target);
    expect(envValue('sidecar', SERVE_OPTIONS.dataDir.env)).toBe(prop(serverConf, 'pinot.server.instance.dataDir'));
  });

  it('runs the sidecar on a read-only root filesystem with a tmpfs for its temp dir', () => {
    const sidecar = service('sidecar');
    expect(sidecar.read_only).toBe(true);
    expect(sidecar.cap_drop).toEqual(['ALL']);
    const tmp = mounts('sidecar').find((m) => m.type === 'tmpfs');
    expect(tmp?.target).toBe('/tmp');
    expect(
      objAt(
        listAt(sidecar, 'volumes').find((v) => isObj(v) && v.type === 'tmpfs'),
        'tmpfs',
      ).size,
    ).toBeGreaterThan(0);
    expect(readText(dockerPath('Dockerfile'))).toMatch(/PINOT_SIDECAR_TMP_DIR=\/tmp\b/);
    // Longer than --shutdown-grace-seconds, or compose kills the drain.
    expect(Number(String(sidecar.stop_grace_period).replace(/s$/, ''))).toBeGreaterThan(
      Number(SERVE_OPTIONS.shutdownGraceS.default),
    );
  });

  it("points the sidecar at the server's cluster, instance and ZooKeeper", () => {
    const server = command('pinot-server');
    expect(server[0]).toBe('StartServer');
    expect(hostFileFor('pinot-server', flag(server, '-configFileName'))).toBe(dockerPath('pinot', 'server.conf'));
    expect(envValue('sidecar', SERVE_OPTIONS.cluster.env)).toBe(flag(server, '-clusterName'));
    expect(envValue('sidecar', SERVE_OPTIONS.cluster.env)).toBe(prop(controllerConf, 'controller.helix.cluster.name'));
    expect(envValue('sidecar', SERVE_OPTIONS.cluster.env)).toBe(flag(command('pinot-broker'), '-clusterName'));
    expect(envValue('sidecar', SERVE_OPTIONS.zk.env)).toBe(flag(server, '-zkAddress'));
    expect(envValue('sidecar', SERVE_OPTIONS.zk.env)).toBe(prop(controllerConf, 'controller.zk.str'));
    expect(envValue('sidecar', SERVE_OPTIONS.instance.env)).toBe(prop(serverConf, 'pinot.server.instance.id'));
    expect(envValue('sidecar', SERVE_OPTIONS.zk.env).split(':')[0]).toBe('zookeeper');
    const controller = command('pinot-controller');
    expect(hostFileFor('pinot-controller', flag(controller, '-configFileName'))).toBe(
      dockerPath('pinot', 'controller.conf'),
    );
  });

  it("uses the controller's controller.data.dir as the deep store, on MinIO, everywhere", () => {
    const dataDir = prop(controllerConf, 'controller.data.dir');
    expect(dataDir).toMatch(/^s3:\/\/[a-z0-9.-]+\/\S+$/);
    expect(envValue('sidecar', SERVE_OPTIONS.deepStore.env)).toBe(dataDir);
    expect(prop(serverConf, 'pinot.server.instance.segment.store.uri')).toBe(dataDir);

    const endpoint = envValue('sidecar', SERVE_OPTIONS.s3Endpoint.env);
    expect(new URL(endpoint).hostname).toBe('minio');
    expect(prop(controllerConf, 'pinot.controller.storage.factory.s3.endpoint')).toBe(endpoint);
    expect(prop(serverConf, 'pinot.server.storage.factory.s3.endpoint')).toBe(endpoint);
    const region = envValue('sidecar', SERVE_OPTIONS.s3Region.env);
    expect(prop(controllerConf, 'pinot.controller.storage.factory.s3.region')).toBe(region);
    expect(prop(serverConf, 'pinot.server.storage.factory.s3.region')).toBe(region);
    expect(envValue('sidecar', SERVE_OPTIONS.s3PathStyle.env)).toBe('true');
    for (const conf of [controllerConf, serverConf]) {
      const role = conf === controllerConf ? 'controller' : 'server';
      expect(prop(conf, `pinot.${role}.storage.factory.class.s3`)).toBe('org.apache.pinot.plugin.filesystem.S3PinotFS');
      expect(prop(conf, `pinot.${role}.segment.fetcher.protocols`).split(',')).toEqual(
        expect.arrayContaining(['http', 's3']),
      );
    }

    // Every S3 client gets MinIO's root credentials; the bucket job creates the deep-store bucket.
    const accessKey = envValue('minio', 'MINIO_ROOT_USER');
    const secretKey = envValue('minio', 'MINIO_ROOT_PASSWORD');
    for (const name of ['pinot-controller', 'pinot-server', 'sidecar', 'minio-init']) {
      expect(envValue(name, 'AWS_ACCESS_KEY_ID'), name).toBe(accessKey);
      expect(envValue(name, 'AWS_SECRET_ACCESS_KEY'), name).toBe(secretKey);
    }
    const bucket = new URL(dataDir).hostname;
    expect(command('minio-init').join(' ')).toContain(`mb --ignore-existing local/${bucket}`);
    expect(objAt(services, 'pinot-controller', 'depends_on', 'minio-init').condition).toBe(
      'service_completed_successfully',
    );
  });

  it('registers Pinot hosts that resolve inside the compose network', () => {
    expect(prop(serverConf, 'pinot.server.netty.host')).toBe('pinot-server');
    expect(prop(controllerConf, 'controller.host')).toBe('pinot-controller');
    for (const name of ['pinot-controller', 'pinot-broker', 'pinot-server']) expect(service(name).hostname).toBe(name);
  });

  it('creates a pauseless realtime table with peer download, fed by the Kafka topic in the stack', () => {
    const init = command('pinot-init');
    expect(init).toContain('AddTable');
    const table = readJson<Obj>(hostFileFor('pinot-init', flag(init, '-tableConfigFile')));
    const schema = readJson<Obj>(hostFileFor('pinot-init', flag(init, '-schemaFile')));
    expect(flag(init, '-controllerHost')).toBe('pinot-controller');
    expect(table.tableType).toBe('REALTIME');
    expect(at(table, 'segmentsConfig', 'peerSegmentDownloadScheme')).toBe('http');
    const streamIngestion = objAt(table, 'ingestionConfig', 'streamIngestionConfig');
    expect(streamIngestion.pauselessConsumptionEnabled).toBe(true);
    // Pauseless allows exactly one stream config (TableConfigUtils).
    const streams = listAt(streamIngestion, 'streamConfigMaps');
    expect(streams).toHaveLength(1);
    const stream = streams[0] as Obj;
    expect(at(table, 'segmentsConfig', 'schemaName')).toBe(schema.schemaName);
    const timeColumn = String(at(table, 'segmentsConfig', 'timeColumnName'));
    expect(listAt(schema, 'dateTimeFieldSpecs').map((f) => (f as Obj).name)).toContain(timeColumn);
    expect(String(stream['stream.kafka.broker.list']).split(':')[0]).toBe('kafka');
    expect(services).toHaveProperty('kafka');
    const topic = String(stream['stream.kafka.topic.name']);
    expect(command('kafka-init').join(' ')).toContain(`--topic ${topic} `);
    expect(command('event-generator').join(' ')).toContain(`--topic ${topic}`);
    expect(objAt(services, 'pinot-init', 'depends_on', 'kafka-init').condition).toBe('service_completed_successfully');
  });

  it('starts the sidecar after the server (serve exits without the cluster or the data dir)', () => {
    expect(objAt(services, 'sidecar', 'depends_on', 'pinot-server').condition).toBe('service_healthy');
    expect(service('sidecar').restart).toBe('unless-stopped');
  });

  it('has Prometheus scrape the sidecar with the alert rules loaded', () => {
    const mount = mounts('prometheus').find((m) => m.type === 'bind' && m.target === '/etc/prometheus');
    expect(mount?.readOnly).toBe(true);
    expect(bindSource(mount!)).toBe(dockerPath('prometheus'));
    const config = readYaml<Obj>(dockerPath('prometheus', 'prometheus.yml'));
    // Relative to prometheus.yml: the same path inside the container and in the repository.
    for (const rules of listAt(config, 'rule_files'))
      expect(statSync(path.join(dockerPath('prometheus'), String(rules))).isFile()).toBe(true);
    expect(listAt(config, 'rule_files')).toContain('alerts.yml');
    const job = listAt(config, 'scrape_configs').find((j) => isObj(j) && j.job_name === 'pinot-sidecar') as Obj;
    expect(job.metrics_path ?? '/metrics').toBe('/metrics');
    const targets = listAt(job, 'static_configs')
      .flatMap((c) => listAt(c, 'targets'))
      .map(String);
    expect(targets).toEqual([`sidecar:${envValue('sidecar', SERVE_OPTIONS.port.env)}`]);
    expect(envValue('sidecar', SERVE_OPTIONS.port.env)).toBe(SERVE_OPTIONS.port.default);
  });

  it('has Grafana provisioned with the Prometheus data source and the dashboard', () => {
    const byTarget = new Map(
      mounts('grafana')
        .filter((m) => m.type === 'bind')
        .map((m) => [m.target, bindSource(m)]),
    );
    expect(byTarget.get('/etc/grafana/provisioning')).toBe(dockerPath('grafana', 'provisioning'));
    const datasources = readYaml<Obj>(dockerPath('grafana', 'provisioning', 'datasources', 'prometheus.yml'));
    const prometheus = listAt(datasources, 'datasources')[0] as Obj;
    expect(prometheus.type).toBe('prometheus');
    expect(new URL(String(prometheus.url)).hostname).toBe('prometheus');
    const providers = readYaml<Obj>(dockerPath('grafana', 'provisioning', 'dashboards', 'pinot-sidecar.yml'));
    const dashboardsPath = String(at(listAt(providers, 'providers')[0], 'options', 'path'));
    expect(byTarget.get(dashboardsPath)).toBe(dockerPath('grafana', 'dashboards'));
    expect(existsSync(dockerPath('grafana', 'dashboards', 'pinot-sidecar.json'))).toBe(true);
    const home = envValue('grafana', 'GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH');
    expect(path.join(byTarget.get(path.dirname(home))!, path.basename(home))).toBe(
      dockerPath('grafana', 'dashboards', 'pinot-sidecar.json'),
    );
  });
});
