import { describe, expect, it } from 'vitest';
import {
  AdvertiseUrlError,
  registrationAddress,
  type RegisteredAddress,
} from '../../../src/agent/fleet/registration.js';
import { useSeededCluster } from '../../helpers/pinot-cluster.js';

/**
 * What a sidecar registers as its URL and zone (issue 16): given options win; without them, its server's instance
 * config — the host, and the failure domain the drain gate reads — so `fleet status` and the gate agree.
 */
const IN_ZONE = 'Server_in-zone_8098';
const TAGGED = 'Server_tagged_8098';
const ALONE = 'Server_alone_8098';
const SPACED = 'Server_spaced_8098';
const CORRUPT = 'Server_corrupt_8098';

const world = useSeededCluster('registration-address', {
  setup: async (seed) => {
    await seed.addInstance(IN_ZONE, { host: 'server-1.pinot', failureDomain: 'us-east-1a', live: false });
    await seed.addInstance(TAGGED, { host: 'server-2.pinot', live: false });
    await seed.addInstance(ALONE, { host: 'server-3.pinot', live: false });
    await seed.addInstance(SPACED, { host: 'server-4.pinot', failureDomain: 'rack 7', live: false });
    await seed.put(seed.paths.instanceConfig(CORRUPT), Buffer.from('{"id":"Server_corrupt_8098","simpleFields":{'));
  },
});

function address(instance: string, options: { advertiseUrl?: string; zone?: string; tagPrefix?: string } = {}) {
  return registrationAddress({
    advertiseUrl: options.advertiseUrl,
    zone: options.zone,
    failureDomainTagPrefix: options.tagPrefix,
    session: world.session,
    cluster: world.cluster,
    instance,
    port: 9700,
  })();
}

describe('registrationAddress', () => {
  it.each<[string, string, Parameters<typeof address>[1], RegisteredAddress]>([
    [
      'nothing given: host and failure domain from the instance config',
      IN_ZONE,
      {},
      { url: 'http://server-1.pinot:9700', zone: 'us-east-1a', zoneFrom: 'instance-config' },
    ],
    [
      '--zone wins over the instance config',
      IN_ZONE,
      { zone: 'rack-7' },
      { url: 'http://server-1.pinot:9700', zone: 'rack-7', zoneFrom: 'flag' },
    ],
    [
      '--advertise-url wins; the zone is still learned',
      IN_ZONE,
      { advertiseUrl: 'https://lb:443/' },
      { url: 'https://lb:443', zone: 'us-east-1a', zoneFrom: 'instance-config' },
    ],
    ['a server that is only its own domain registers no zone', ALONE, {}, { url: 'http://server-3.pinot:9700' }],
    [
      '--failure-domain-tag: the tag names the zone',
      TAGGED,
      { tagPrefix: 'DefaultTenant_' },
      { url: 'http://server-2.pinot:9700', zone: 'REALTIME', zoneFrom: 'instance-config' },
    ],
    [
      'a learned domain a column cannot hold (whitespace) is not registered',
      SPACED,
      {},
      { url: 'http://server-4.pinot:9700' },
    ],
  ])('%s', async (_case, instance, options, expected) => {
    expect(await address(instance, options)).toEqual(expected);
  });

  it('an instance config that cannot be read: with the URL given, registered without a zone; without, an error', async () => {
    expect(await address(CORRUPT, { advertiseUrl: 'http://x:1' })).toEqual({ url: 'http://x:1' });
    await expect(address(CORRUPT)).rejects.toThrow();
  });

  it('an instance config that is not there: the URL given is enough (no zone); without one, a clear error', async () => {
    expect(await address('Server_missing_8098', { advertiseUrl: 'http://x:1' })).toEqual({ url: 'http://x:1' });
    expect(await address('Server_missing_8098', { advertiseUrl: 'http://x:1', zone: 'z' })).toEqual({
      url: 'http://x:1',
      zone: 'z',
      zoneFrom: 'flag',
    });
    await expect(address('Server_missing_8098')).rejects.toThrow(AdvertiseUrlError);
    await expect(address('Server_missing_8098')).rejects.toThrow(/set --advertise-url/);
  });
});
