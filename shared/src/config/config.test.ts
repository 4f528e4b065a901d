import { ConfigError, parseConfig, parseConfigText } from './load';
import { parseDuration } from './duration';
import { WithheldSecret } from './secret';

const env = { PDNS_API_KEY: 'sekret-key-value' };

function portal(over: Record<string, unknown> = {}) {
  return {
    id: 'dvc-hanoi',
    name: 'Hà Nội',
    sites: [
      { name: 'primary', provider: 'a', routing: { address: '192.0.2.10' }, checks: [{ type: 'http', url: 'https://192.0.2.10/', interval: '5s', timeout: '2s' }] },
      { name: 'standby', provider: 'b', routing: { address: '198.51.100.20' }, checks: [{ type: 'tcp', host: '198.51.100.20', port: 443, interval: '5s', timeout: '1s' }] },
    ],
    traffic: [{ kind: 'powerdns', apiUrl: 'http://127.0.0.1:8081', apiKey: '${PDNS_API_KEY}', zone: 'portal.example.', record: 'www.portal.example.', type: 'A' }],
    ...over,
  };
}

function problems(raw: unknown, e: NodeJS.ProcessEnv = env): string[] {
  try {
    parseConfig(raw, 'test.yaml', e);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => `${p.path}: ${p.message}`);
    throw err;
  }
  return [];
}

describe('durations', () => {
  it.each([
    ['500ms', 500],
    ['10s', 10_000],
    ['1.5m', 90_000],
    ['2h', 7_200_000],
    ['10', undefined],
    ['5 minutes', undefined],
    ['-1s', undefined],
  ])('%s -> %s', (text, ms) => expect(parseDuration(text)).toBe(ms));
});

describe('config validation', () => {
  it('accepts a minimal config and fills the defaults', () => {
    const c = parseConfig({ portals: [portal()] }, 'test.yaml', env);
    expect(c.redis).toEqual({ url: 'redis://127.0.0.1:6379', prefix: 'pf', tls: false, connectTimeout: 2000, commandTimeout: 1000 });
    expect(c.portals[0].policy).toMatchObject({ failureThreshold: 3, recoveryThreshold: 5, quorum: 1, cooldown: 600_000, autoFailover: true, autoFailback: false });
    const check = c.portals[0].sites[0].checks[0];
    expect(check).toMatchObject({ interval: 5000, timeout: 2000, method: 'GET', tls: { verify: true }, redirects: { follow: false, allowOtherHost: false } });
    const step = c.portals[0].traffic[0] as unknown as { apiKey: { reveal(): string }; ttl: number; serverId: string };
    expect(step.apiKey.reveal()).toBe('sekret-key-value');
    expect(step).toMatchObject({ ttl: 30, serverId: 'localhost' });
  });

  it('rejects a REDIS_URL that is not a redis URL', () => {
    expect(() => parseConfig({ portals: [portal()] }, 't', { ...env, REDIS_URL: 'localhost:6379' })).toThrow(/REDIS_URL \(environment\): must be a redis/);
  });

  it('REDIS_URL overrides redis.url', () => {
    expect(parseConfig({ portals: [portal()] }, 't', { ...env, REDIS_URL: 'redis://10.0.0.1:6380' }).redis.url).toBe('redis://10.0.0.1:6380');
  });

  it('secrets never appear when the config is printed', () => {
    const c = parseConfig({ portals: [portal()] }, 't', env);
    expect(JSON.stringify(c)).not.toContain('sekret-key-value');
    expect(String((c.portals[0].traffic[0] as unknown as { apiKey: unknown }).apiKey)).toBe('[redacted]');
  });

  it.each([
    {
      name: 'timeout not shorter than interval',
      raw: { portals: [portal({ sites: [portal().sites[0], { ...portal().sites[1], checks: [{ type: 'tcp', host: 'x', port: 1, interval: '2s', timeout: '2s' }] }] })] },
      want: 'portals[0].sites[1].checks[0].timeout: must be shorter than interval',
    },
    { name: 'bad duration', raw: { portals: [portal({ policy: { cooldown: '10 minutes' } })] }, want: 'portals[0].policy.cooldown: "10 minutes" is not a duration' },
    { name: 'wrong type', raw: { portals: [portal({ policy: { quorum: 'two' } })] }, want: 'portals[0].policy.quorum: must be a number of vantages (1 to 64) or "majority"' },
    { name: 'missing field', raw: { portals: [portal({ name: undefined })] }, want: 'portals[0].name: is required' },
    {
      name: 'unknown provider kind',
      raw: { portals: [portal({ traffic: [{ kind: 'bind-magic', zone: 'x.' }] })] },
      want: 'portals[0].traffic[0].kind: unknown provider kind "bind-magic" (known: powerdns, zonefile, rfc2136, haproxy, webhook, cloudflare, route53)',
    },
    {
      name: 'unknown check type',
      raw: { portals: [portal({ sites: [{ ...portal().sites[0], checks: [{ type: 'icmp', interval: '5s', timeout: '1s' }] }, portal().sites[1]] })] },
      want: 'portals[0].sites[0].checks[0].type: unknown check type "icmp"',
    },
    { name: 'unknown field (typo)', raw: { portals: [portal({ polciy: {} })] }, want: 'portals[0]: unknown field "polciy"' },
    { name: 'literal secret', raw: { portals: [portal({ traffic: [{ ...portal().traffic[0], apiKey: 'plain' }] })] }, want: 'portals[0].traffic[0].apiKey: secrets must be a ${ENV_VAR} reference' },
    { name: 'unset env secret', raw: { portals: [portal()] }, env: {}, want: 'portals[0].traffic[0].apiKey: environment variable PDNS_API_KEY is not set' },
    { name: 'one site only', raw: { portals: [portal({ sites: [portal().sites[0]] })] }, want: 'portals[0].sites: a portal needs at least two sites' },
    {
      name: 'A record but IPv6 address',
      raw: { portals: [portal({ sites: [portal().sites[0], { ...portal().sites[1], routing: { address: '2001:db8::1' } }] })] },
      want: 'portals[0].traffic[0].type: site standby routing.address 2001:db8::1 is IPv6 but the record type is A',
    },
    { name: 'duplicate site', raw: { portals: [portal({ sites: [portal().sites[0], portal().sites[0]] })] }, want: 'portals[0].sites[1].name: duplicate site name "primary"' },
    { name: 'zero interval', raw: { portals: [portal({ sites: [portal().sites[0], { ...portal().sites[1], checks: [{ type: 'tcp', host: 'x', port: 1, interval: '0s', timeout: '0s' }] }] })] }, want: 'portals[0].sites[1].checks[0].interval: must be at least 100ms' },
    { name: 'HEAD with body rules', raw: { portals: [portal({ sites: [{ ...portal().sites[0], checks: [{ type: 'http', url: 'http://x/', method: 'HEAD', interval: '5s', timeout: '1s', expect: { bodyIncludes: ['x'] } }] }, portal().sites[1]] })] }, want: 'portals[0].sites[0].checks[0].method: HEAD has no body' },
    { name: 'no portals', raw: { portals: [] }, want: 'portals: configure at least one portal' },
    { name: 'bad address', raw: { portals: [portal({ sites: [{ ...portal().sites[0], routing: { address: '300.1.1.1' } }, portal().sites[1]] })] }, want: 'portals[0].sites[0].routing.address: must be an IPv4 or IPv6 address' },
  ])('$name', ({ raw, want, env: e }) => {
    expect(problems(raw, e ?? env).join('\n')).toContain(want);
  });

  it('reports every problem at once', () => {
    const raw = { portals: [portal({ policy: { quorum: 0, cooldown: 'x' }, name: 5 })] };
    expect(problems(raw).length).toBeGreaterThanOrEqual(3);
  });

  it('YAML syntax errors name the line', () => {
    expect(() => parseConfigText('portals:\n  - id: [unclosed\n', 'bad.yaml', env)).toThrow(/bad\.yaml.*\n\s+line \d+, column \d+: Flow sequence/);
  });
});

describe('provider time limits fit in the leader lease', () => {
  it('refuses a step timeout the lease cannot cover, naming the field and the budget', () => {
    const slow = portal({ traffic: [{ kind: 'powerdns', apiUrl: 'http://127.0.0.1:8081', apiKey: '${PDNS_API_KEY}', zone: 'portal.example.', record: 'www.portal.example.', type: 'A', timeout: '7s' }] });
    expect(problems({ portals: [slow] })).toEqual([
      'portals[0].traffic[0].timeout: must fit in the leader lease: at most 6s (controller.leaseTtl × 0.8 − controller.renewEvery), got 7s',
    ]);
    // A longer lease makes room for it.
    expect(problems({ controller: { leaseTtl: '15s' }, portals: [slow] })).toEqual([]);
  });

  it('checks a zonefile reload command the same way, and the defaults fit the default lease', () => {
    const zonefile = { kind: 'zonefile', path: '/tmp/z.zone', zone: 'portal.example.', record: 'www.portal.example.', type: 'A', reloadCommand: ['true'] };
    expect(problems({ portals: [portal({ traffic: [zonefile] })] })).toEqual([]);
    expect(problems({ controller: { leaseTtl: '3s', renewEvery: '1s' }, portals: [portal({ traffic: [zonefile] })] })).toEqual([
      'portals[0].traffic[0].reloadTimeout: must fit in the leader lease: at most 1400ms (controller.leaseTtl × 0.8 − controller.renewEvery), got 5s',
    ]);
  });
});

describe('declared vantages and quorum', () => {
  const vEnv = { ...env, KEY_HN: 'hn-key-123456', KEY_HCM: 'hcm-key-123456', KEY_DN: 'dn-key-123456' };
  const three = [
    { name: 'hn-1', key: '${KEY_HN}' },
    { name: 'hcm-1', key: '${KEY_HCM}', canary: 'https://canary.example/' },
    { name: 'dn-1', key: '${KEY_DN}' },
  ];
  it('without vantages, checker.vantage is implied and majority of one is 1', () => {
    const c = parseConfig({ checker: { vantage: 'solo' }, portals: [portal()] }, 't', env);
    expect(c.vantages).toEqual([{ name: 'solo', implied: true }]);
    expect(c.portals[0].policy.quorum).toBe(1);
  });
  it('majority (the default) of three declared vantages is 2; a number is kept', () => {
    const c = parseConfig({ vantages: three, portals: [portal(), portal({ id: 'p2', policy: { quorum: 3 } })] }, 't', vEnv);
    expect(c.vantages.map((v) => [v.name, v.implied, v.canary])).toEqual([['hn-1', false, undefined], ['hcm-1', false, 'https://canary.example/'], ['dn-1', false, undefined]]);
    expect(c.vantages[0].key?.reveal()).toBe('hn-key-123456');
    expect(c.portals.map((p) => p.policy.quorum)).toEqual([2, 3]);
  });
  it.each([
    [{ vantages: three, portals: [portal({ policy: { quorum: 4 } })] }, 'portals[0].policy.quorum: must be at most the number of declared vantages (3)'],
    [{ portals: [portal({ policy: { quorum: 2 } })] }, 'portals[0].policy.quorum: must be 1 without a vantages list (only checker.vantage "local" is implied); declare the vantages to use a larger quorum'],
    [{ vantages: [three[0], { ...three[1], name: 'hn-1' }], portals: [portal()] }, 'vantages[1].name: duplicate vantage "hn-1"'],
    [{ vantages: [{ name: 'hn-1', key: 'literal-key' }], portals: [portal()] }, 'vantages[0].key: secrets must be a ${ENV_VAR} reference or a file:/path, never the literal value'],
    [{ vantages: [{ name: 'hn-1', key: '${KEY_HN}', canary: 'not a url' }], portals: [portal()] }, 'vantages[0].canary'],
  ])('refuses %j', (raw, want) => {
    expect(problems(raw, vEnv).join('\n')).toContain(want);
  });
  it('a checker process validates provider secrets but leaves them withheld, and fails only when one is used', () => {
    const c = parseConfig({ portals: [portal()] }, 't', {}, undefined, { withholdSecrets: 'checker' });
    const key = c.portals[0].traffic[0].apiKey;
    if (!(key instanceof WithheldSecret)) throw new Error('the provider key should be withheld');
    expect(() => key.reveal()).toThrow('secret env:PDNS_API_KEY is not available in this process: checker');
    expect(problems({ portals: [portal()] }, {})).toEqual(['portals[0].traffic[0].apiKey: environment variable PDNS_API_KEY is not set']);
  });
});
