import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { freePort } from '../../../test/support/free-port';
import { createZone, pdnsRequest, queryA, replaceRRsets, sharedPowerDns, type RRSetInput } from '../../../test/support/powerdns-server';
import { startRecordingProxy } from '../../../test/support/recording-proxy';
import { makeFields } from '../config/fields';
import { createLogger } from '../runtime/logger';
import { LeaseLostError } from '../store/state-store';
import { powerdnsProvider, type PowerDnsStepConfig } from './powerdns.provider';
import { ProviderError, type FenceGuard, type ProviderContext, type TargetSite, type TrafficProvider } from './provider';

/**
 * The PowerDNS step against the real PowerDNS the jest global setup starts. Every test gets its own zone, since
 * all test files share that server.
 */

const pdns = sharedPowerDns();
const logger = createLogger({ silent: true });
const KEY = pdns.apiKey;
const WRONG_KEY = `wrong-${randomBytes(12).toString('hex')}`;

const primary: TargetSite = { name: 'primary', routing: { address: '192.0.2.10', target: 'primary.example.net.' } };
const standby: TargetSite = { name: 'standby', routing: { address: '198.51.100.20', target: 'standby.example.net' } };
const v6primary: TargetSite = { name: 'v6primary', routing: { address: '2001:db8::10' } };
const v6standby: TargetSite = { name: 'v6standby', routing: { address: '2001:db8::20' } };

const allowAll: FenceGuard = { token: 7, assertHeld: async () => {} };
const ctx: ProviderContext = { fence: allowAll, logger };

/** The raw step as a user writes it; the key only as a ${KEY} reference. */
function rawStep(zone: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    kind: 'powerdns',
    apiUrl: pdns.apiUrl,
    apiKey: '${KEY}',
    zone,
    record: `www.${zone}`,
    type: 'A',
    ttl: 30,
    timeout: '5s',
    ...overrides,
  };
}

function parseStep(raw: Record<string, unknown>, key: string = KEY): PowerDnsStepConfig {
  return powerdnsProvider.schema(makeFields({ KEY: key })).parse(raw);
}

function provider(zone: string, overrides: Record<string, unknown> = {}, key: string = KEY): TrafficProvider {
  return powerdnsProvider.create(parseStep(rawStep(zone, overrides), key), { logger });
}

let zoneSeq = 0;
/** A fresh zone name, unique across workers and runs (the shared PowerDNS outlives no run, but workers share it). */
function uniqueZone(): string {
  zoneSeq++;
  return `pdp${zoneSeq}-${process.pid}-${randomBytes(3).toString('hex')}.test.`;
}

/** A fresh zone with www A -> primary, unless other rrsets are given. */
async function zoneWith(rrsets?: (zone: string) => RRSetInput[]): Promise<string> {
  const zone = uniqueZone();
  await createZone(pdns, zone, rrsets ? rrsets(zone) : [{ name: `www.${zone}`, type: 'A', ttl: 30, records: ['192.0.2.10'] }]);
  return zone;
}

const dnsA = (name: string) => queryA(pdns.dnsHost, pdns.dnsPort, name);

/** Runs `fn`, which must reject, and hands back the error so several properties can be checked. */
async function rejection(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection, but the call succeeded');
}

function asProviderError(err: unknown): ProviderError {
  expect(err).toBeInstanceOf(ProviderError);
  return err as ProviderError;
}

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (closers.length) await closers.pop()?.();
});

async function proxy() {
  const p = await startRecordingProxy(pdns.apiUrl);
  closers.push(() => p.close());
  return p;
}

describe('powerdns provider: read', () => {
  it('returns the current values of the record and its TTL', async () => {
    const zone = await zoneWith((z) => [
      { name: `www.${z}`, type: 'A', ttl: 45, records: ['192.0.2.11', '192.0.2.10'] },
      { name: `www.${z}`, type: 'AAAA', ttl: 30, records: ['2001:db8::10'] },
      { name: `other.${z}`, type: 'A', ttl: 30, records: ['203.0.113.1'] },
    ]);
    const p = provider(zone);
    expect(p.kind).toBe('powerdns');
    expect(p.label).toBe(`powerdns www.${zone}/A`);
    // Only this record and this type, sorted.
    expect(await p.read()).toEqual({ values: ['192.0.2.10', '192.0.2.11'], ttl: 45, detail: 'ttl 45' });
    expect(await provider(zone, { type: 'AAAA' }).read()).toEqual({ values: ['2001:db8::10'], ttl: 30, detail: 'ttl 30' });
  });

  it('matches the record name case-insensitively and without the trailing dot', async () => {
    const zone = await zoneWith();
    const upper = provider(zone.toUpperCase().replace(/\.$/, ''), { record: `WWW.${zone.toUpperCase()}`.replace(/\.$/, '') });
    expect((await upper.read()).values).toEqual(['192.0.2.10']);
  });

  it('reports an absent rrset as no values', async () => {
    const zone = await zoneWith();
    expect(await provider(zone, { record: `missing.${zone}` }).read()).toEqual({ values: [], detail: 'no such rrset' });
    expect(await provider(zone, { type: 'AAAA' }).read()).toEqual({ values: [], detail: 'no such rrset' });
  });
});

describe('powerdns provider: plan', () => {
  it('is pure: no request, the input is not touched and the same input gives the same plan', async () => {
    const zone = await zoneWith();
    const rec = await proxy();
    const p = provider(zone, { apiUrl: rec.url });
    const current = await p.read();
    const requestsAfterRead = rec.requests.length;
    const frozen = JSON.parse(JSON.stringify(current)) as unknown;

    const a = p.plan(current, standby);
    const b = p.plan(current, standby);
    expect(a).toEqual(b);
    expect(current).toEqual(frozen);
    expect(rec.requests).toHaveLength(requestsAfterRead);
  });

  it('says changes=true only when the record is not exactly the target value', async () => {
    const zone = await zoneWith();
    const p = provider(zone);
    expect(p.plan({ values: ['192.0.2.10'] }, primary)).toMatchObject({
      kind: 'powerdns',
      target: 'primary',
      changes: false,
      description: `www.${zone} A already 192.0.2.10`,
    });
    expect(p.plan({ values: ['192.0.2.10'] }, standby)).toMatchObject({
      target: 'standby',
      changes: true,
      description: `PATCH ${zone}: REPLACE www.${zone} A [192.0.2.10] -> 198.51.100.20`,
    });
    // Extra values besides the wanted one, or nothing at all, still need the REPLACE.
    expect(p.plan({ values: ['192.0.2.10', '198.51.100.20'] }, standby).changes).toBe(true);
    expect(p.plan({ values: [] }, standby).changes).toBe(true);
    // From the live record.
    expect(p.plan(await p.read(), primary).changes).toBe(false);
    expect(p.plan(await p.read(), standby).changes).toBe(true);
  });

  it('describes a REPLACE of the canonical rrset with the configured ttl, free of secrets', async () => {
    const zone = await zoneWith();
    const p = provider(zone.replace(/\.$/, '').toUpperCase(), { record: `Www.${zone.replace(/\.$/, '')}`, ttl: 120 });
    const plan = p.plan({ values: ['192.0.2.10'] }, standby);
    expect(plan.request).toEqual({
      method: 'PATCH',
      url: `${pdns.apiUrl}/api/v1/servers/localhost/zones/${zone}`,
      body: {
        rrsets: [
          { name: `www.${zone}`, type: 'A', ttl: 120, changetype: 'REPLACE', records: [{ content: '198.51.100.20', disabled: false }] },
        ],
      },
    });
    const printed = JSON.stringify(plan);
    expect(printed).not.toContain(KEY);
    expect(JSON.parse(printed)).toEqual(plan);
  });

  it('refuses a site that cannot be written to this record type, as a non-retryable error', async () => {
    const zone = await zoneWith();
    const err = asProviderError(await rejection(async () => provider(zone).plan({ values: [] }, v6standby)));
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/site v6standby routing\.address 2001:db8::20 is IPv6 but the record type is A/);
  });

  it('the body PATCH sends is exactly plan.request.body, to plan.request.url', async () => {
    const zone = await zoneWith();
    const rec = await proxy();
    const p = provider(zone, { apiUrl: rec.url, ttl: 60 });
    const plan = p.plan(await p.read(), standby);
    await p.apply(plan, ctx);

    const writes = rec.writes();
    expect(writes).toHaveLength(1);
    expect(writes[0].method).toBe('PATCH');
    expect(`${rec.url}${writes[0].path}`).toBe(plan.request.url);
    expect(JSON.parse(writes[0].body)).toEqual(plan.request.body);
    expect(writes[0].status).toBe(204);
    // PowerDNS stored the ttl from the plan.
    expect(await provider(zone).read()).toEqual({ values: ['198.51.100.20'], ttl: 60, detail: 'ttl 60' });
  });
});

describe('powerdns provider: apply and verify', () => {
  it('switches the A record from primary to standby, and real DNS answers the new address', async () => {
    const zone = await zoneWith();
    const record = `www.${zone}`;
    const p = provider(zone);
    expect(await dnsA(record)).toEqual(['192.0.2.10']);
    expect(await p.verify(primary)).toEqual({ ok: true, observed: ['192.0.2.10'], detail: `${record} A is 192.0.2.10` });
    expect((await p.verify(standby)).ok).toBe(false);

    const plan = p.plan(await p.read(), standby);
    expect(plan.changes).toBe(true);
    await p.apply(plan, ctx);

    expect(await p.verify(standby)).toEqual({ ok: true, observed: ['198.51.100.20'], detail: `${record} A is 198.51.100.20` });
    expect(await p.verify(primary)).toEqual({
      ok: false,
      observed: ['198.51.100.20'],
      detail: 'expected 192.0.2.10, PowerDNS has [198.51.100.20]',
    });
    expect(await dnsA(record)).toEqual(['198.51.100.20']);
    // The other records of the zone are untouched.
    expect(await dnsA(`ns1.${zone}`)).toEqual(['127.0.0.1']);
  });

  it('re-applying when plan.changes is false sends no request at all', async () => {
    const zone = await zoneWith();
    const rec = await proxy();
    const p = provider(zone, { apiUrl: rec.url });
    let fenceChecks = 0;
    const counting: ProviderContext = { logger, fence: { token: 1, assertHeld: async () => void fenceChecks++ } };

    await p.apply(p.plan(await p.read(), standby), counting);
    expect(rec.writes()).toHaveLength(1);
    expect(fenceChecks).toBe(1);

    const again = p.plan(await p.read(), standby);
    expect(again.changes).toBe(false);
    const before = rec.requests.length;
    await p.apply(again, counting);
    await p.apply(again, counting);
    expect(rec.requests).toHaveLength(before);
    expect(rec.writes()).toHaveLength(1);
    expect(fenceChecks).toBe(1);
    expect((await p.verify(standby)).ok).toBe(true);
  });

  it('switches an AAAA record', async () => {
    const zone = await zoneWith((z) => [{ name: `www.${z}`, type: 'AAAA', ttl: 30, records: ['2001:db8::10'] }]);
    const record = `www.${zone}`;
    const p = provider(zone, { type: 'AAAA' });
    expect(await queryA(pdns.dnsHost, pdns.dnsPort, record, 'AAAA')).toEqual(['2001:db8::10']);
    expect(p.plan(await p.read(), v6primary).changes).toBe(false);

    const plan = p.plan(await p.read(), v6standby);
    expect(plan.changes).toBe(true);
    await p.apply(plan, ctx);
    expect(await p.verify(v6standby)).toMatchObject({ ok: true, observed: ['2001:db8::20'] });
    expect(await queryA(pdns.dnsHost, pdns.dnsPort, record, 'AAAA')).toEqual(['2001:db8::20']);
    expect(p.plan(await p.read(), v6standby).changes).toBe(false);
  });

  it('switches a CNAME record to routing.target, made absolute', async () => {
    const zone = await zoneWith((z) => [{ name: `portal.${z}`, type: 'CNAME', ttl: 30, records: ['primary.example.net.'] }]);
    const record = `portal.${zone}`;
    const p = provider(zone, { type: 'CNAME', record });
    expect(await queryA(pdns.dnsHost, pdns.dnsPort, record, 'CNAME')).toEqual(['primary.example.net']);
    expect(p.plan(await p.read(), primary).changes).toBe(false);

    const plan = p.plan(await p.read(), standby);
    expect(plan.request).toMatchObject({ body: { rrsets: [{ type: 'CNAME', records: [{ content: 'standby.example.net.', disabled: false }] }] } });
    await p.apply(plan, ctx);
    expect(await p.verify(standby)).toMatchObject({ ok: true, observed: ['standby.example.net.'] });
    expect(await queryA(pdns.dnsHost, pdns.dnsPort, record, 'CNAME')).toEqual(['standby.example.net']);
    expect(p.plan(await p.read(), standby).changes).toBe(false);

    const err = asProviderError(await rejection(async () => p.plan(await p.read(), { name: 'bare', routing: { address: '192.0.2.1' } })));
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/site bare needs routing\.target for a CNAME record/);
  });

  it('verify catches a change that did not stick and reports what PowerDNS has', async () => {
    const zone = await zoneWith();
    const record = `www.${zone}`;
    const p = provider(zone);
    await p.apply(p.plan(await p.read(), standby), ctx);
    expect((await p.verify(standby)).ok).toBe(true);

    // Someone (another tool, a human) changes the record behind the provider's back.
    await replaceRRsets(pdns, zone, [{ name: record, type: 'A', ttl: 30, records: ['203.0.113.7'] }]);
    expect(await p.verify(standby)).toEqual({
      ok: false,
      observed: ['203.0.113.7'],
      detail: 'expected 198.51.100.20, PowerDNS has [203.0.113.7]',
    });

    // The standby plus a stray extra value is not "switched" either.
    await replaceRRsets(pdns, zone, [{ name: record, type: 'A', ttl: 30, records: ['198.51.100.20', '203.0.113.7'] }]);
    expect(await p.verify(standby)).toMatchObject({ ok: false, observed: ['198.51.100.20', '203.0.113.7'] });

    // A record that was disabled does not count as served.
    await pdnsRequest(pdns, 'PATCH', `/zones/${zone}`, {
      rrsets: [{ name: record, type: 'A', ttl: 30, changetype: 'REPLACE', records: [{ content: '198.51.100.20', disabled: true }] }],
    });
    expect(await p.verify(standby)).toMatchObject({ ok: false, observed: [] });

    // Deleted outright.
    await pdnsRequest(pdns, 'PATCH', `/zones/${zone}`, { rrsets: [{ name: record, type: 'A', changetype: 'DELETE' }] });
    expect(await p.verify(standby)).toEqual({ ok: false, observed: [], detail: 'expected 198.51.100.20, PowerDNS has []' });
  });
});

describe('powerdns provider: fencing', () => {
  it('checks the fence before writing', async () => {
    const zone = await zoneWith();
    const rec = await proxy();
    const p = provider(zone, { apiUrl: rec.url });
    const writesSeenByFence: number[] = [];
    const fence: FenceGuard = {
      token: 3,
      assertHeld: async () => {
        writesSeenByFence.push(rec.writes().length);
      },
    };
    await p.apply(p.plan(await p.read(), standby), { fence, logger });
    expect(writesSeenByFence).toEqual([0]);
    expect(rec.writes()).toHaveLength(1);
  });

  it('a rejecting fence prevents the write', async () => {
    const zone = await zoneWith();
    const record = `www.${zone}`;
    const rec = await proxy();
    const p = provider(zone, { apiUrl: rec.url });
    const lost: FenceGuard = {
      token: 3,
      assertHeld: () => Promise.reject(new LeaseLostError('lease with fencing token 3 is no longer held')),
    };
    const plan = p.plan(await p.read(), standby);
    await expect(p.apply(plan, { fence: lost, logger })).rejects.toBeInstanceOf(LeaseLostError);
    expect(rec.writes()).toHaveLength(0);
    expect(rec.requests.every((r) => r.method === 'GET')).toBe(true);
    expect((await provider(zone).read()).values).toEqual(['192.0.2.10']);
    expect(await dnsA(record)).toEqual(['192.0.2.10']);
  });
});

describe('powerdns provider: failures', () => {
  it('a wrong API key is a non-retryable ProviderError that quotes neither key', async () => {
    const zone = await zoneWith();
    const p = provider(zone, {}, WRONG_KEY);
    const readErr = asProviderError(await rejection(() => p.read()));
    expect(readErr.retryable).toBe(false);
    expect(readErr.message).toMatch(/PowerDNS answered 401 to GET/);

    const plan = provider(zone).plan({ values: ['192.0.2.10'] }, standby);
    const applyErr = asProviderError(await rejection(() => p.apply(plan, ctx)));
    expect(applyErr.retryable).toBe(false);
    expect(applyErr.message).toMatch(/PowerDNS answered 401 to PATCH/);

    for (const err of [readErr, applyErr]) {
      for (const text of [err.message, String(err), err.stack ?? '', JSON.stringify(err)]) {
        expect(text).not.toContain(WRONG_KEY);
        expect(text).not.toContain(KEY);
      }
    }
    // Nothing was written.
    expect((await provider(zone).read()).values).toEqual(['192.0.2.10']);
  });

  it('an unknown zone is a clear non-retryable error', async () => {
    const zone = uniqueZone(); // never created
    const p = provider(zone);
    const readErr = asProviderError(await rejection(() => p.read()));
    expect(readErr.retryable).toBe(false);
    expect(readErr.message).toContain(`powerdns www.${zone}/A`);
    expect(readErr.message).toMatch(/PowerDNS answered 404 to GET/);
    expect(readErr.message).toContain(zone);

    const applyErr = asProviderError(await rejection(() => p.apply(p.plan({ values: [] }, standby), ctx)));
    expect(applyErr.retryable).toBe(false);
    expect(applyErr.message).toMatch(/PowerDNS answered (404|422) to PATCH/);
    for (const err of [readErr, applyErr]) expect(err.message).not.toContain(KEY);
  });

  it('an unreachable API (closed port) is retryable', async () => {
    const zone = await zoneWith();
    const port = await freePort();
    const p = provider(zone, { apiUrl: `http://127.0.0.1:${port}` });
    const readErr = asProviderError(await rejection(() => p.read()));
    expect(readErr.retryable).toBe(true);
    expect(readErr.message).toMatch(/GET zone .* failed: ECONNREFUSED/);
    const applyErr = asProviderError(await rejection(() => p.apply(p.plan({ values: [] }, standby), ctx)));
    expect(applyErr.retryable).toBe(true);
    expect(applyErr.message).toMatch(/PATCH zone .* failed: ECONNREFUSED/);
    for (const err of [readErr, applyErr]) expect(err.message).not.toContain(KEY);
  });

  it('an API that accepts the connection and never answers times out, retryably, within the configured timeout', async () => {
    const zone = await zoneWith();
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((s) => {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
      s.resume(); // read the request, never answer
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    closers.push(
      () =>
        new Promise<void>((r) => {
          for (const s of sockets) s.destroy();
          silent.close(() => r());
        }),
    );
    const address = silent.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const p = provider(zone, { apiUrl: `http://127.0.0.1:${port}`, timeout: '300ms' });

    for (const call of [() => p.read(), () => p.apply(p.plan({ values: [] }, standby), ctx)]) {
      const started = Date.now();
      const err = asProviderError(await rejection(call));
      const elapsed = Date.now() - started;
      expect(err.retryable).toBe(true);
      expect(err.message).toMatch(/(GET|PATCH) zone .* failed: no answer within 300ms/);
      expect(elapsed).toBeGreaterThanOrEqual(250);
      expect(elapsed).toBeLessThan(2000);
    }
  });
});

describe('powerdns provider: checkSites and schema', () => {
  const step = (overrides: Record<string, unknown>) => parseStep(rawStep('portal.example.', overrides));

  it('checkSites reports an IPv6 address for an A record (and the other mismatches)', () => {
    expect(powerdnsProvider.checkSites(step({}), [primary, standby])).toEqual([]);
    expect(powerdnsProvider.checkSites(step({}), [primary, v6standby])).toEqual([
      { path: ['type'], message: 'site v6standby routing.address 2001:db8::20 is IPv6 but the record type is A' },
    ]);
    expect(powerdnsProvider.checkSites(step({ type: 'AAAA' }), [v6primary, standby])).toEqual([
      { path: ['type'], message: 'site standby routing.address 198.51.100.20 is IPv4 but the record type is AAAA' },
    ]);
    expect(powerdnsProvider.checkSites(step({ type: 'CNAME' }), [primary, v6primary])).toEqual([
      { path: ['type'], message: 'site v6primary needs routing.target for a CNAME record' },
    ]);
  });

  it('parses a valid step into canonical names, a millisecond timeout and a secret key', () => {
    const s = step({ zone: 'Portal.Example', record: 'WWW.portal.example', timeout: '300ms', ttl: undefined, serverId: undefined });
    expect(s).toMatchObject({ kind: 'powerdns', zone: 'portal.example.', record: 'www.portal.example.', ttl: 30, timeoutMs: 300, serverId: 'localhost' });
    expect(s.apiKey.reveal()).toBe(KEY);
    expect(JSON.stringify(s)).not.toContain(KEY);
    // The zone apex itself is inside the zone.
    expect(step({ record: 'portal.example' }).record).toBe('portal.example.');
  });

  it('rejects a record outside the zone, including a mere suffix match', () => {
    const schema = powerdnsProvider.schema(makeFields({ KEY }));
    for (const record of ['www.other.example.', 'www.evilportal.example.', 'example.']) {
      const r = schema.safeParse(rawStep('portal.example.', { record }));
      expect(r.success).toBe(false);
      expect(r.error?.issues).toEqual([expect.objectContaining({ path: ['record'], message: `${record} is not inside zone portal.example.` })]);
    }
  });

  it('rejects a CNAME at the zone apex, like every DNS provider', () => {
    const r = powerdnsProvider.schema(makeFields({ KEY })).safeParse(rawStep('portal.example.', { record: 'portal.example.', type: 'CNAME' }));
    expect(r.error?.issues).toEqual([expect.objectContaining({ path: ['record'], message: 'a CNAME cannot be at the zone apex' })]);
  });

  it('rejects a literal apiKey without echoing it', () => {
    const schema = powerdnsProvider.schema(makeFields({ KEY }));
    const r = schema.safeParse(rawStep('portal.example.', { apiKey: KEY }));
    expect(r.success).toBe(false);
    expect(r.error?.issues).toEqual([
      expect.objectContaining({ path: ['apiKey'], message: expect.stringMatching(/never the literal value/) }),
    ]);
    expect(JSON.stringify(r.error?.issues)).not.toContain(KEY);
    expect(r.error?.message).not.toContain(KEY);
  });

  it('rejects a key reference to an unset variable, and unknown fields', () => {
    const schema = powerdnsProvider.schema(makeFields({}));
    const unset = schema.safeParse(rawStep('portal.example.'));
    expect(unset.error?.issues).toEqual([expect.objectContaining({ path: ['apiKey'], message: 'environment variable KEY is not set' })]);
    const extra = powerdnsProvider.schema(makeFields({ KEY })).safeParse(rawStep('portal.example.', { apikey: 'x' }));
    expect(extra.success).toBe(false);
  });
});

describe('powerdns provider: normalised values and TTL', () => {
  it('an AAAA address written in long form verifies against the short form PowerDNS stores, and re-plans as no change', async () => {
    const zone = await zoneWith((z) => [{ name: `www.${z}`, type: 'AAAA', ttl: 30, records: ['2001:db8::10'] }]);
    const p = provider(zone, { type: 'AAAA' });
    const site: TargetSite = { name: 'standby', routing: { address: '2001:DB8:0:0::20' } };
    await p.apply(p.plan(await p.read(), site), ctx);
    expect(await p.verify(site)).toMatchObject({ ok: true, observed: ['2001:db8::20'] });
    expect(p.plan(await p.read(), site).changes).toBe(false);
  });

  it('a right value with a wrong TTL is a change, and none after it is written', async () => {
    const zone = await zoneWith((z) => [{ name: `www.${z}`, type: 'A', ttl: 3600, records: ['198.51.100.20'] }]);
    const p = provider(zone, { ttl: 30 });
    expect(p.plan(await p.read(), standby).changes).toBe(true);
    await p.apply(p.plan(await p.read(), standby), ctx);
    expect(p.plan(await p.read(), standby).changes).toBe(false);
  });
});
