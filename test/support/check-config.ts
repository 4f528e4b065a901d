import { parseConfig, type CheckConfig } from '@portal-failover/shared';

/** A minimal valid config around the given checks of the first site, as a user would write it. */
export function rawConfigWithChecks(checks: unknown[], site: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    portals: [
      {
        id: 'p',
        name: 'P',
        sites: [
          { name: 'primary', provider: 'a', routing: { address: '192.0.2.1' }, checks, ...site },
          { name: 'standby', provider: 'b', routing: { address: '192.0.2.2' }, checks: [{ type: 'tcp', host: '127.0.0.1', port: 1, interval: '10s', timeout: '1s' }] },
        ],
        traffic: [{ kind: 'powerdns', apiUrl: 'http://127.0.0.1:8081', apiKey: '${TEST_KEY}', zone: 'p.test.', record: 'www.p.test.', type: 'A', ttl: 30 }],
      },
    ],
  };
}

/** One check through the real config schema: every default filled in, durations in ms. */
export function parseCheck<T extends CheckConfig = CheckConfig>(check: Record<string, unknown>): T {
  const config = parseConfig(rawConfigWithChecks([check]), 'test', { TEST_KEY: 'test-key' });
  return config.portals[0].sites[0].checks[0] as T;
}
