import { ConfigError, parseConfig } from './load';
import { endedRiskWindowIssues, riskWindowBodySchema, riskWindowIssues } from './risk-window-fields';

const env = { PDNS_API_KEY: 'sekret-key-value' };
const dns = { kind: 'powerdns', apiUrl: 'http://127.0.0.1:8081', apiKey: '${PDNS_API_KEY}', zone: 'portal.example.', record: 'www.portal.example.', type: 'A', ttl: 60 };
const haproxy = { kind: 'haproxy', socket: 'tcp:127.0.0.1:9999', backend: 'portal', servers: { primary: 'a', standby: 'b' } };

function portal(riskWindows: unknown[], traffic: unknown[] = [dns]) {
  return {
    id: 'dvc-hanoi',
    name: 'Hà Nội',
    sites: [
      { name: 'primary', provider: 'a', routing: { address: '192.0.2.10' }, checks: [{ type: 'tcp', host: '192.0.2.10', port: 443, interval: '5s', timeout: '1s' }] },
      { name: 'standby', provider: 'b', routing: { address: '198.51.100.20' }, checks: [{ type: 'tcp', host: '198.51.100.20', port: 443, interval: '5s', timeout: '1s' }] },
    ],
    traffic,
    riskWindows,
  };
}

function problems(windows: unknown[], traffic?: unknown[]): string[] {
  try {
    parseConfig({ portals: [portal(windows, traffic)] }, 'test.yaml', env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => `${p.path}: ${p.message}`);
    throw err;
  }
  return [];
}

const good = { name: 'billing-cutoff', start: '2027-07-04T00:00:00+07:00', duration: '6h', leadTime: '2h', lowerTtlTo: '5s', probeInterval: '1s' };

describe('portals[].riskWindows', () => {
  it('parses a window with its zone into epoch ms and seconds, keeping the start as written', () => {
    const c = parseConfig({ portals: [portal([good])] }, 't', env);
    expect(c.portals[0].riskWindows).toEqual([
      { name: 'billing-cutoff', start: '2027-07-04T00:00:00+07:00', startsAt: Date.parse('2027-07-03T17:00:00Z'), durationMs: 6 * 3_600_000, leadTimeMs: 2 * 3_600_000, lowerTtlTo: 5, probeIntervalMs: 1000, source: 'config' },
    ]);
  });

  it('takes lowerTtlTo as whole seconds too', () => {
    expect(parseConfig({ portals: [portal([{ ...good, lowerTtlTo: 30 }])] }, 't', env).portals[0].riskWindows[0].lowerTtlTo).toBe(30);
  });

  it.each([
    [{ start: '2027-07-04T00:00:00' }, 'portals[0].riskWindows[0].start: "2027-07-04T00:00:00" has no zone'],
    [{ start: '2027-07-04' }, 'portals[0].riskWindows[0].start: "2027-07-04" has no zone'],
    [{ start: 'midnight on the 4th' }, 'portals[0].riskWindows[0].start: "midnight on the 4th" is not an ISO 8601 date-time with its zone'],
    [{ start: '2027-02-30T00:00:00Z' }, 'portals[0].riskWindows[0].start: "2027-02-30T00:00:00Z" is not an ISO 8601'],
    [{ lowerTtlTo: '90s' }, 'portals[0].riskWindows[0].lowerTtlTo: 90s is larger than the 60s TTL of traffic step 1 (powerdns www.portal.example.): a risk window lowers TTLs, never raises them'],
    [{ lowerTtlTo: '1500ms' }, 'portals[0].riskWindows[0].lowerTtlTo: "1500ms" is not a TTL: write whole seconds'],
    [{ lowerTtlTo: 0 }, 'portals[0].riskWindows[0].lowerTtlTo:'],
    [{ duration: 'six hours' }, 'portals[0].riskWindows[0].duration: "six hours" is not a duration'],
    [{ duration: '0s' }, 'portals[0].riskWindows[0].duration: a window must be at least 1s'],
    [{ name: 'Billing Cutoff' }, 'portals[0].riskWindows[0].name: must be lower-case'],
    [{ colour: 'red' }, 'portals[0].riskWindows[0]: unknown field "colour"'],
  ])('refuses %j naming the field and the reason', (change, message) => {
    const got = problems([{ ...good, ...change }]);
    expect(got.some((p) => p.startsWith(message))).toBe(true);
  });

  it('refuses a TTL below what a provider\'s API takes (Cloudflare: 60 s)', () => {
    const cloudflare = { kind: 'cloudflare', apiToken: '${PDNS_API_KEY}', zoneId: '023e105f4ecef8ad9ca31a8372d0c353', record: 'www.portal.example.', type: 'A', ttl: 300 };
    expect(problems([{ ...good, lowerTtlTo: '5s' }], [cloudflare])).toContain('portals[0].riskWindows[0].lowerTtlTo: 5s is below the 60s that traffic step 1 (cloudflare www.portal.example) accepts: its API takes no shorter TTL');
    expect(problems([{ ...good, lowerTtlTo: '60s' }], [cloudflare])).toEqual([]);
  });

  it('refuses a window on a portal with no DNS zone to prepare', () => {
    expect(problems([good], [haproxy])).toContain('portals[0].riskWindows[0].lowerTtlTo: the portal has no DNS zone to prepare: none of its traffic steps (haproxy) has a TTL');
  });

  it('refuses two windows of one name', () => {
    expect(problems([good, good])).toContain('portals[0].riskWindows[1].name: duplicate risk window name "billing-cutoff"');
  });

  it('keeps an ended window (a restart after it must not fail); validate names it', () => {
    const ended = { ...good, start: '2020-07-04T00:00:00+07:00' };
    const c = parseConfig({ portals: [portal([ended])] }, 't', env);
    expect(endedRiskWindowIssues(c.portals, Date.parse('2026-12-02T00:00:00Z'))).toEqual([
      { path: ['portals', 0, 'riskWindows', 0, 'start'], message: 'the window "billing-cutoff" is in the past: it ended at 2020-07-04T06:00:00+07:00; remove it' },
    ]);
  });
});

describe('the API body', () => {
  it('is the config window plus a reason, from source api', () => {
    const w = riskWindowBodySchema.parse({ ...good, reason: 'notice from hosting-a' });
    expect(w).toMatchObject({ name: 'billing-cutoff', source: 'api', reason: 'notice from hosting-a', lowerTtlTo: 5 });
  });

  it('is refused when in the past, given the clock', () => {
    const w = riskWindowBodySchema.parse({ ...good, start: '2020-07-04T00:00:00Z' });
    expect(riskWindowIssues(w, [dns], Date.parse('2026-12-02T00:00:00Z'))).toEqual([{ path: ['start'], message: 'the window is in the past: it ended at 2020-07-04T06:00:00Z' }]);
    expect(riskWindowIssues(w, [dns])).toEqual([]);
  });
});
