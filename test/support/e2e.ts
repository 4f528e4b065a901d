import { randomBytes } from 'node:crypto';
import { createLogger, parseConfig, type Config, type Logger } from '@portal-failover/shared';
import { SimSite } from '../../cli/src/demo/sim-site';
import { createZone, queryA, sharedPowerDns } from './powerdns-server';
import { sharedRedisUrl } from './redis-server';

export interface PortalFixture {
  id: string;
  zone: string;
  record: string;
  primary: SimSite;
  standby: SimSite;
  primaryAddress: string;
  standbyAddress: string;
  /** The A record over real DNS from the test PowerDNS. */
  answer(): Promise<string[]>;
}

let addressSeq = 1;

/** Two simulated sites and a fresh PowerDNS zone whose www A record points at the primary. */
export async function portalFixture(id: string): Promise<PortalFixture> {
  const pdns = sharedPowerDns();
  const n = addressSeq++;
  const zone = `${id}.${randomBytes(3).toString('hex')}.test.`;
  const record = `www.${zone}`;
  const primaryAddress = `192.0.2.${n}`;
  const standbyAddress = `198.51.100.${n}`;
  await createZone(pdns, zone, [{ name: record, type: 'A', ttl: 30, records: [primaryAddress] }]);
  const [primary, standby] = await Promise.all([SimSite.start('primary'), SimSite.start('standby')]);
  return {
    id,
    zone,
    record,
    primary,
    standby,
    primaryAddress,
    standbyAddress,
    answer: () => queryA(pdns.dnsHost, pdns.dnsPort, record),
  };
}

export interface ConfigOptions {
  intervalMs?: number;
  timeoutMs?: number;
  policy?: Record<string, unknown>;
  apiUrl?: string;
  controller?: Record<string, unknown>;
  redisUrl?: string;
  vantage?: string;
  /** Declared vantages, keys as ${ENV} references. */
  vantages?: { name: string; key: string; canary?: string }[];
  /** The DNS step's propagation check (`verify`), as a user writes it. */
  verify?: Record<string, unknown>;
  /** The portal's traffic steps instead of the PowerDNS one (another DNS server holds its zone). */
  traffic?: (p: PortalFixture) => Record<string, unknown>[];
}

/** The config document for the fixtures, as a user would write it (secrets as ${ENV} references). */
export function e2eRawConfig(portals: PortalFixture[], o: ConfigOptions = {}): Record<string, unknown> {
  const pdns = sharedPowerDns();
  const interval = `${o.intervalMs ?? 1000}ms`;
  const timeout = `${o.timeoutMs ?? 500}ms`;
  const check = (url: string) => ({
    type: 'http',
    url,
    interval,
    timeout,
    expect: { status: [200], bodyIncludes: ['Cổng dịch vụ công'], bodyExcludes: ['suspended', 'tạm ngưng'] },
  });
  const raw = {
    redis: { url: o.redisUrl ?? sharedRedisUrl(), prefix: `e2e${randomBytes(4).toString('hex')}` },
    api: { listen: '127.0.0.1:0' },
    checker: { vantage: o.vantage ?? 'v1', concurrency: 32 },
    ...(o.vantages ? { vantages: o.vantages } : {}),
    controller: { leaseTtl: '3s', renewEvery: '1s', evaluateEvery: '250ms', stepAttempts: 3, stepBackoff: '200ms', ...o.controller },
    portals: portals.map((p) => ({
      id: p.id,
      name: `Portal ${p.id}`,
      policy: { failureThreshold: 3, recoveryThreshold: 2, quorum: 1, cooldown: '10m', ...o.policy },
      sites: [
        { name: 'primary', provider: 'hosting-a', routing: { address: p.primaryAddress }, checks: [check(p.primary.url)] },
        { name: 'standby', provider: 'hosting-b', routing: { address: p.standbyAddress }, checks: [check(p.standby.url)] },
      ],
      traffic: o.traffic?.(p) ?? [{ kind: 'powerdns', apiUrl: o.apiUrl ?? pdns.apiUrl, apiKey: '${TEST_PDNS_API_KEY}', zone: p.zone, record: p.record, type: 'A', ttl: 30, timeout: '1s', ...(o.verify ? { verify: o.verify } : {}) }],
    })),
  };
  return raw;
}

/** A validated config for the fixtures, through the same parser the service uses. */
export function e2eConfig(portals: PortalFixture[], o: ConfigOptions = {}): Config {
  const { REDIS_URL: _ignored, ...env } = process.env;
  return parseConfig(e2eRawConfig(portals, o), 'e2e', env);
}

export function testLogger(): Logger {
  return createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'error', format: 'pretty' });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Samples an answer every `everyMs` for `forMs`, returning every distinct value in order of appearance changes. */
export async function watchAnswers(fx: PortalFixture, forMs: number, everyMs = 250): Promise<string[]> {
  const seen: string[] = [];
  const end = Date.now() + forMs;
  while (Date.now() < end) {
    // A failed query is recorded as its own value, so it fails the caller's assertion instead of escaping.
    const v = await fx.answer().then((a) => a.join(','), (err: Error & { code?: string }) => `error:${err.code ?? err.message}`);
    if (seen[seen.length - 1] !== v) seen.push(v);
    await sleep(everyMs);
  }
  return seen;
}
