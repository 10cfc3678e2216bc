import { describe, expect, it } from 'vitest';
import { SERVE_OPTIONS } from '../../src/agent/config.js';
import { dockerPath, readText } from './support.js';

/**
 * Storage tiers are optional, so the Kubernetes files show them as commented lines next to the data mount. They
 * must still name the real variable and mount the tier read-only where the variable points.
 */
const env = SERVE_OPTIONS.tierDataDirs.env;

describe.each(['kubernetes/pinot-helm-values.yaml', 'kubernetes/pinot-server-statefulset.yaml'])(
  'storage tiers in %s',
  (file) => {
    const text = readText(dockerPath(file));

    it(`shows ${env} and a read-only mount of the tier at that path`, () => {
      const variable = new RegExp(`# - name: ${env}\\n\\s*#   value: (\\S+)`).exec(text);
      expect(variable, `commented ${env} entry`).not.toBeNull();
      const mount = /# - name: (\S+)\n\s*# {3}mountPath: (\S+)\n\s*# {3}readOnly: true/.exec(text);
      expect(mount, 'commented read-only tier mount').not.toBeNull();
      const dirs = variable![1]!.split(SERVE_OPTIONS.tierDataDirs.repeatable.envSeparator);
      for (const dir of dirs) expect(dir === mount![2] || dir.startsWith(`${mount![2]}/`)).toBe(true);
      // Where the file shows the server's tier config too, its dataDirs are the ones the sidecar is given.
      const serverTierDirs = [...text.matchAll(/# pinot\.server\.instance\.tierConfigs\.[^.\s]+\.dataDir=(\S+)/g)].map(
        (m) => m[1],
      );
      if (serverTierDirs.length > 0) expect(serverTierDirs).toEqual(dirs);
    });
  },
);

it('docker/README.md tells how to give the sidecar the tiers', () => {
  const readme = readText(dockerPath('README.md'));
  expect(readme).toContain(`\`${env}\``);
  expect(readme).toContain('<tierDataDir>/<tableNameWithType>/<segment>/');
});
