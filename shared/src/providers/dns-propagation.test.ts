import { ConfigError, parseConfig } from '../config/load';
import { createLogger } from '../runtime/logger';
import { parseNameserver, propagationLines, propagationRecord, propagationWatchFor } from './dns-propagation';
import { createProvider } from './registry';

describe('propagation bookkeeping (no I/O)', () => {
  const applied = Date.UTC(2026, 11, 2, 17, 0, 0);
  const base = { record: 'www.portal.example.', type: 'A', value: '198.51.100.20', appliedAt: applied, timeoutMs: 5000 };

  it('records per server when it first served the new answer, which one lagged, and the old-TTL horizon', () => {
    const p = propagationRecord({
      ...base,
      oldTtl: 300,
      observations: [
        { server: '127.0.0.1:5300', role: 'authoritative', servedAt: applied + 12, last: 'served [192.0.2.10]' },
        { server: '127.0.0.1:5301', role: 'authoritative', servedAt: applied + 840 },
        { server: '127.0.0.1:5302', role: 'authoritative', last: 'no answer' },
        { server: '127.0.0.1:5353', role: 'resolver', last: 'served [192.0.2.10]' },
      ],
    });
    expect(p.oldTtl).toBe(300);
    expect(p.oldAnswerUntil).toBe(applied + 300_000);
    expect(p.servers).toEqual([
      { server: '127.0.0.1:5300', role: 'authoritative', propagated: true, afterMs: 12 },
      { server: '127.0.0.1:5301', role: 'authoritative', propagated: true, afterMs: 840 },
      { server: '127.0.0.1:5302', role: 'authoritative', propagated: false, detail: 'not serving 198.51.100.20 within 5000ms: no answer' },
      { server: '127.0.0.1:5353', role: 'resolver', propagated: false, detail: 'served [192.0.2.10]' },
    ]);
    expect(propagationLines(p)).toEqual([
      'authoritative 127.0.0.1:5300: serves 198.51.100.20 after 12ms',
      'authoritative 127.0.0.1:5301: serves 198.51.100.20 after 840ms',
      'authoritative 127.0.0.1:5302: NOT propagated (not serving 198.51.100.20 within 5000ms: no answer)',
      'resolver 127.0.0.1:5353: NOT propagated (served [192.0.2.10])',
      'resolvers may hold the old answer until 2026-12-02T17:05:00.000Z (apply time + old TTL 300s)',
    ]);
  });

  it('says the horizon is unknown without an old TTL, and keeps why no server could be asked', () => {
    const p = propagationRecord({ ...base, observations: [], error: 'cannot find the servers to ask: no NS records' });
    expect(p.oldAnswerUntil).toBeUndefined();
    expect(p.servers).toEqual([]);
    expect(propagationLines(p)).toEqual([
      'error: cannot find the servers to ask: no NS records',
      'old TTL unknown: how long resolvers may hold the old answer is not known',
    ]);
  });

  it('never records a negative time for a server that answered at the write instant (clock read before it)', () => {
    const p = propagationRecord({ ...base, observations: [{ server: 'a:53', role: 'authoritative', servedAt: applied - 1 }] });
    expect(p.servers[0].afterMs).toBe(0);
  });
});

describe('the propagation check a step gets', () => {
  const site = { name: 'standby', routing: { address: '198.51.100.20' } };
  // No servers to ask: the record is built from the step alone, without a single packet.
  const verify = { nameservers: [], resolvers: [], timeoutMs: 1000 };

  it('asks about the absolute record name (zonefile owners may be relative to the zone)', async () => {
    const watch = propagationWatchFor({ kind: 'zonefile', zone: 'portal.example', record: 'www', type: 'A', verify });
    expect(await watch?.(site, { at: 10, oldTtl: 30 })).toMatchObject({ record: 'www.portal.example.', value: '198.51.100.20', oldAnswerUntil: 30_010 });
    const abs = propagationWatchFor({ kind: 'powerdns', zone: 'portal.example.', record: 'WWW.Portal.Example', type: 'A', verify });
    expect((await abs?.(site, { at: 10 }))?.record).toBe('www.portal.example.');
  });

  it("reads Cloudflare's automatic TTL (1) as the 300 s it serves", async () => {
    const watch = propagationWatchFor({ kind: 'cloudflare', record: 'www.portal.example', type: 'A', verify });
    expect(await watch?.(site, { at: 0, oldTtl: 1 })).toMatchObject({ oldTtl: 300, oldAnswerUntil: 300_000 });
    expect(await watch?.(site, { at: 0, oldTtl: 120 })).toMatchObject({ oldTtl: 120 });
  });
});

describe('nameserver addresses', () => {
  it.each([
    ['192.0.2.1', { host: '192.0.2.1', port: 53 }],
    ['192.0.2.1:5300', { host: '192.0.2.1', port: 5300 }],
    ['::1', { host: '::1', port: 53 }],
    ['[2001:db8::1]:5353', { host: '2001:db8::1', port: 5353 }],
    ['ns1.example.net', { host: 'ns1.example.net', port: 53 }],
    ['127.0.0.1:0', undefined],
    ['127.0.0.1:99999', undefined],
    ['not a host', undefined],
    ['ns1.example.net:', undefined],
  ])('%s', (text, want) => {
    expect(parseNameserver(text)).toEqual(want);
  });
});

const ENV = { PDNS_KEY: 'pdns-api-key-for-the-test' };

describe('verify on a DNS step in a config file', () => {
  const sites = [
    { name: 'primary', provider: 'a', routing: { address: '192.0.2.10' }, checks: [{ type: 'tcp', host: '192.0.2.10', port: 443, interval: '5s', timeout: '1s' }] },
    { name: 'standby', provider: 'b', routing: { address: '198.51.100.20' }, checks: [{ type: 'tcp', host: '198.51.100.20', port: 443, interval: '5s', timeout: '1s' }] },
  ];
  const pdns = { kind: 'powerdns', apiUrl: 'http://127.0.0.1:8081', apiKey: '${PDNS_KEY}', zone: 'portal.example', record: 'www.portal.example', type: 'A' };
  const config = (step: Record<string, unknown>, controller?: Record<string, unknown>) => ({
    ...(controller ? { controller } : {}),
    portals: [{ id: 'p', name: 'P', sites, traffic: [step] }],
  });
  function problems(raw: unknown): string[] {
    try {
      parseConfig(raw, 'test.yaml', ENV);
    } catch (err) {
      if (err instanceof ConfigError) return err.problems.map((p) => `${p.path}: ${p.message}`);
      throw err;
    }
    return [];
  }

  it('parses servers and the timeout, and gives the provider a propagation check', () => {
    const c = parseConfig(config({ ...pdns, verify: { nameservers: ['127.0.0.1:5300', '::1'], resolvers: ['127.0.0.1'], timeout: '3s' } }), 'test.yaml', ENV);
    expect(c.portals[0].traffic[0].verify).toEqual({
      nameservers: [{ host: '127.0.0.1', port: 5300 }, { host: '::1', port: 53 }],
      resolvers: [{ host: '127.0.0.1', port: 53 }],
      timeoutMs: 3000,
    });
    const logger = createLogger({ silent: true });
    expect(typeof createProvider(c.portals[0].traffic[0], { logger }).propagation).toBe('function');
    // Without verify there is nothing to watch.
    const plain = parseConfig(config(pdns), 'test.yaml', ENV);
    expect(plain.portals[0].traffic[0].verify).toBeUndefined();
    expect(createProvider(plain.portals[0].traffic[0], { logger }).propagation).toBeUndefined();
    expect(propagationWatchFor({ kind: 'haproxy', backend: 'x' })).toBeUndefined();
  });

  it('refuses bad servers, empty lists and a timeout beyond the lease, naming the path', () => {
    expect(problems(config({ ...pdns, verify: { nameservers: ['127.0.0.1:99999', 'ok.example:53'] } }))).toEqual([
      'portals[0].traffic[0].verify.nameservers[0]: "127.0.0.1:99999" is not a nameserver address: write host, host:port or [IPv6]:port (port 1-65535)',
    ]);
    expect(problems(config({ ...pdns, verify: { nameservers: [] } }))).toEqual([
      'portals[0].traffic[0].verify.nameservers: list at least one nameserver, or leave the field out',
    ]);
    expect(problems(config({ ...pdns, verify: { resolvers: [] } }))).toEqual(['portals[0].traffic[0].verify.resolvers: list at least one resolver, or leave the field out']);
    expect(problems(config({ ...pdns, verify: { timeout: 'soon' } }))).toEqual([
      'portals[0].traffic[0].verify.timeout: "soon" is not a duration; write it like 500ms, 10s or 5m',
    ]);
    expect(problems(config({ ...pdns, verify: { timeout: '7s' } }))).toEqual([
      'portals[0].traffic[0].verify.timeout: must fit in the leader lease: at most 6s (controller.leaseTtl × 0.8 − controller.renewEvery), got 7s',
    ]);
    expect(problems(config({ ...pdns, verify: { nameserver: ['127.0.0.1'] } }))).toEqual([expect.stringMatching(/^portals\[0\]\.traffic\[0\]\.verify: .*nameserver/)]);
  });
});
