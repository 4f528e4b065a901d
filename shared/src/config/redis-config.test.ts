import { ConfigError, parseConfig } from './load';
import { redisOptions } from '../runtime/redis';

const env = { PDNS_API_KEY: 'sekret-key-value', REDIS_PASSWORD: 'redis-pass-value', SENTINEL_PASSWORD: 'sentinel-pass-value' };

const portal = {
  id: 'dvc-hanoi',
  name: 'Hà Nội',
  sites: [
    { name: 'primary', provider: 'a', routing: { address: '192.0.2.10' }, checks: [{ type: 'tcp', host: '192.0.2.10', port: 443, interval: '5s', timeout: '1s' }] },
    { name: 'standby', provider: 'b', routing: { address: '198.51.100.20' }, checks: [{ type: 'tcp', host: '198.51.100.20', port: 443, interval: '5s', timeout: '1s' }] },
  ],
  traffic: [{ kind: 'powerdns', apiUrl: 'http://127.0.0.1:8081', apiKey: '${PDNS_API_KEY}', zone: 'portal.example.', record: 'www.portal.example.', type: 'A' }],
};

function problems(raw: Record<string, unknown>, e: NodeJS.ProcessEnv = env): string[] {
  try {
    parseConfig({ portals: [portal], ...raw }, 'test.yaml', e);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => `${p.path}: ${p.message}`);
    throw err;
  }
  return [];
}

describe('redis config: Sentinel and timeouts', () => {
  it('accepts three Sentinels with a master name and secret passwords, and builds Sentinel connection options', () => {
    const c = parseConfig(
      { portals: [portal], redis: { sentinels: ['10.0.0.1:26379', '10.0.0.2:26379', '[::1]:26379'], name: 'pf-master', password: '${REDIS_PASSWORD}', sentinelPassword: '${SENTINEL_PASSWORD}' } },
      't',
      env,
    );
    expect(c.redis.url).toBeUndefined();
    const o = redisOptions(c.redis, 'command');
    expect(o).toMatchObject({
      sentinels: [{ host: '10.0.0.1', port: 26379 }, { host: '10.0.0.2', port: 26379 }, { host: '::1', port: 26379 }],
      name: 'pf-master',
      role: 'master',
      password: 'redis-pass-value',
      sentinelPassword: 'sentinel-pass-value',
      commandTimeout: 1000,
      connectTimeout: 2000,
    });
    // The blocking (BullMQ worker) connection must not time out its own blocking commands.
    expect(redisOptions(c.redis, 'blocking').commandTimeout).toBeUndefined();
    // Secrets stay out of anything printed.
    expect(JSON.stringify(c.redis)).not.toMatch(/redis-pass-value|sentinel-pass-value/);
  });

  it('keeps the single-URL default and its timeouts', () => {
    const c = parseConfig({ portals: [portal] }, 't', env);
    expect(c.redis.url).toBe('redis://127.0.0.1:6379');
    expect(redisOptions(c.redis, 'command')).toMatchObject({ host: '127.0.0.1', port: 6379, commandTimeout: 1000, connectTimeout: 2000 });
  });

  it.each<[string, Record<string, unknown>, NodeJS.ProcessEnv | undefined, RegExp]>([
    ['url and sentinels together', { redis: { url: 'redis://10.0.0.1:6379', sentinels: ['10.0.0.1:26379'], name: 'pf' } }, undefined, /^redis\.url: give either url or sentinels, not both/],
    ['an empty sentinels list', { redis: { sentinels: [], name: 'pf' } }, undefined, /^redis\.sentinels: must list at least one Sentinel/],
    ['a host:port that does not parse', { redis: { sentinels: ['10.0.0.1:26379', 'sentinel-two'], name: 'pf' } }, undefined, /^redis\.sentinels\[1\]: must be host:port, e\.g\. 10\.0\.0\.1:26379 \(got "sentinel-two"\)/],
    ['a port out of range', { redis: { sentinels: ['10.0.0.1:99999'], name: 'pf' } }, undefined, /^redis\.sentinels\[0\]: must be host:port/],
    ['sentinels without a master name', { redis: { sentinels: ['10.0.0.1:26379'] } }, undefined, /^redis\.name: is required with sentinels/],
    ['a literal password', { redis: { sentinels: ['10.0.0.1:26379'], name: 'pf', password: 'hunter2' } }, undefined, /^redis\.password: secrets must be a \$\{ENV_VAR\} reference/],
    ['reconcileEvery below 1s', { controller: { reconcileEvery: '500ms' } }, undefined, /^controller\.reconcileEvery: must be at least 1000ms, got 500ms/],
    ['a command timeout longer than half the lease', { redis: { commandTimeout: '6s' } }, undefined, /^redis\.commandTimeout: must be at most half of controller\.leaseTtl \(10s\)/],
    ['an unknown onDrift', { portals: [{ ...portal, policy: { onDrift: 'ignore' } }] }, undefined, /^portals\[0\]\.policy\.onDrift: must be one of "alert", "repair"/],
    ['REDIS_URL with sentinels', { redis: { sentinels: ['10.0.0.1:26379'], name: 'pf' } }, { ...env, REDIS_URL: 'redis://10.0.0.9:6379' }, /^REDIS_URL \(environment\): is not used when redis\.sentinels is set/],
  ])('refuses %s, naming the path and the reason', (_name, raw, e, message) => {
    const found = problems(raw, e);
    expect(found).toEqual(expect.arrayContaining([expect.stringMatching(message)]));
  });
});
