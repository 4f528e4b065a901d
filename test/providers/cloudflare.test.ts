import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { executeOperation } from '@portal-failover/controller';
import {
  cloudflareProvider,
  ConfigError,
  createProvider,
  makeFields,
  parseConfig,
  type Operation,
  type ProviderContext,
  type TargetSite,
} from '@portal-failover/shared';
import { captureLogger } from '../support/capture-logger';
import { startCloudflareFake, type CloudflareFake } from '../support/fakes/cloudflare-fake';
import { cloudflareStep } from './cloud-harnesses';
import { PRIMARY, STANDBY } from './harnesses';
import { rejection, runningOperation } from './test-kit';

/**
 * cloudflare against a local fake of the Cloudflare v4 DNS API (test/support/fakes/cloudflare-fake.ts): the
 * switch as one PATCH of the record, one record left when there were several, retries through the controller's
 * executor on 429/5xx, final errors on a bad or read-only token that name the permission, and verify noticing a
 * change someone undid.
 */

const capture = captureLogger();
const { logger } = capture;
const ctx: ProviderContext = { fence: { token: 1, assertHeld: async () => undefined }, logger };
const RECORD = 'www.portal.example';

let fake: CloudflareFake;
let zoneId: string;
beforeEach(async () => {
  fake = await startCloudflareFake();
  zoneId = fake.addZone('portal.example');
  fake.setRecords(zoneId, RECORD, 'A', [PRIMARY.routing.address ?? ''], { ttl: 60 });
});
afterEach(async () => {
  await fake.close();
});

const step = (raw: Record<string, unknown> = {}, token = fake.token) => cloudflareStep(fake, { zoneId, record: RECORD, ...raw }, token, logger);
const served = (type = 'A') => fake.records(zoneId, RECORD, type).map((r) => r.content).sort();

async function switchTo(p: ReturnType<typeof step>, site: TargetSite): Promise<void> {
  await p.apply(p.plan(await p.read(), site), ctx);
}

const operation = (): Operation => runningOperation('cloudflare');

describe('cloudflare: switching a record', () => {
  it('edits the one record in place with PATCH (same id), and verify reads it back', async () => {
    const p = step();
    const [before] = fake.records(zoneId, RECORD, 'A');
    const state = await p.read();
    expect(state).toMatchObject({ values: ['192.0.2.10'], ttl: 60, records: [{ id: before.id, content: '192.0.2.10', ttl: 60, proxied: false }] });
    const plan = p.plan(state, STANDBY);
    expect(plan).toEqual({
      kind: 'cloudflare',
      target: 'standby',
      changes: true,
      description: `PATCH ${RECORD} A in zone ${zoneId}: [192.0.2.10] -> 198.51.100.20 ttl 60`,
      request: {
        zoneId,
        operations: [
          {
            method: 'PATCH',
            path: `/zones/${zoneId}/dns_records/${before.id}`,
            recordId: before.id,
            body: { type: 'A', name: RECORD, content: '198.51.100.20', ttl: 60, proxied: false },
          },
        ],
      },
    });
    await p.apply(plan, ctx);
    expect(fake.records(zoneId, RECORD, 'A')).toEqual([expect.objectContaining({ id: before.id, content: '198.51.100.20', ttl: 60 })]);
    expect(fake.writes().map((w) => [w.method, w.status])).toEqual([['PATCH', 200]]);
    expect(await p.verify(STANDBY)).toEqual({ ok: true, observed: ['198.51.100.20'], detail: `${RECORD} A is 198.51.100.20 ttl 60` });
  });

  it('re-applying the same target reads but never writes', async () => {
    const p = step();
    await switchTo(p, STANDBY);
    const writes = fake.writes().length;
    for (let i = 0; i < 3; i++) {
      const plan = p.plan(await p.read(), STANDBY);
      expect(plan).toMatchObject({ changes: false, description: `${RECORD} A already 198.51.100.20 ttl 60`, request: { operations: [] } });
      await p.apply(plan, ctx);
    }
    expect(fake.writes()).toHaveLength(writes);
  });

  it('creates the record (POST) when there is none', async () => {
    fake.setRecords(zoneId, RECORD, 'A', []);
    const p = step();
    const plan = p.plan(await p.read(), STANDBY);
    expect(plan.request.operations).toEqual([{ method: 'POST', path: `/zones/${zoneId}/dns_records`, body: { type: 'A', name: RECORD, content: '198.51.100.20', ttl: 60, proxied: false } }]);
    await p.apply(plan, ctx);
    expect(served()).toEqual(['198.51.100.20']);
    expect((await p.verify(STANDBY)).ok).toBe(true);
  });

  it('several records become one: the one with the target (or the first) is kept, the others deleted', async () => {
    const made = fake.setRecords(zoneId, RECORD, 'A', ['192.0.2.10', '198.51.100.20', '192.0.2.11'], { ttl: 60 });
    const p = step();
    expect((await p.verify(STANDBY)).ok).toBe(false);
    const plan = p.plan(await p.read(), STANDBY);
    // 198.51.100.20 already exists with the right TTL: only deletes.
    expect((plan.request.operations as { method: string; recordId?: string }[]).map((o) => [o.method, o.recordId])).toEqual([
      ['DELETE', made[0].id],
      ['DELETE', made[2].id],
    ]);
    await p.apply(plan, ctx);
    expect(fake.records(zoneId, RECORD, 'A').map((r) => r.id)).toEqual([made[1].id]);
    expect((await p.verify(STANDBY)).ok).toBe(true);

    // Back to primary from two records, neither with the target: PATCH the first, delete the other.
    const two = fake.setRecords(zoneId, RECORD, 'A', ['203.0.113.1', '203.0.113.2'], { ttl: 60 });
    const back = p.plan(await p.read(), PRIMARY);
    expect((back.request.operations as { method: string; recordId?: string }[]).map((o) => [o.method, o.recordId])).toEqual([
      ['PATCH', two[0].id],
      ['DELETE', two[1].id],
    ]);
    await p.apply(back, ctx);
    expect(served()).toEqual(['192.0.2.10']);
  });

  it('reads every page of a long list (result_info paging)', async () => {
    const many = Array.from({ length: 230 }, (_, k) => `10.0.${Math.floor(k / 250)}.${k % 250}`);
    fake.setRecords(zoneId, RECORD, 'A', many, { ttl: 60 });
    const p = step();
    const state = await p.read();
    expect(state.values).toHaveLength(230);
    const gets = fake.requests.filter((r) => r.method === 'GET');
    expect(gets.map((r) => [r.query.page, r.query.per_page, r.query['name.exact'], r.query.type])).toEqual([
      ['1', '100', RECORD, 'A'],
      ['2', '100', RECORD, 'A'],
      ['3', '100', RECORD, 'A'],
    ]);
  });

  it('a wrong TTL or proxy flag is a change too, and CNAME targets compare without the trailing dot', async () => {
    fake.setRecords(zoneId, RECORD, 'A', ['198.51.100.20'], { ttl: 300 });
    const p = step();
    expect(p.plan(await p.read(), STANDBY).changes).toBe(true);
    expect((await p.verify(STANDBY)).detail).toBe('expected 198.51.100.20 ttl 60, Cloudflare has [198.51.100.20 ttl 300]');
    await switchTo(p, STANDBY);
    expect(fake.records(zoneId, RECORD, 'A')[0].ttl).toBe(60);

    const proxied = step({ proxied: true, ttl: undefined });
    const plan = proxied.plan(await proxied.read(), STANDBY);
    expect(plan.request.operations).toEqual([expect.objectContaining({ method: 'PATCH', body: expect.objectContaining({ proxied: true, ttl: 1 }) })]);
    await proxied.apply(plan, ctx);
    expect(fake.records(zoneId, RECORD, 'A')[0]).toMatchObject({ proxied: true, ttl: 1 });
    expect((await proxied.verify(STANDBY)).detail).toBe(`${RECORD} A is 198.51.100.20 ttl auto proxied`);
    expect(proxied.plan(await proxied.read(), STANDBY).changes).toBe(false);

    fake.setRecords(zoneId, RECORD, 'A', []);
    fake.setRecords(zoneId, RECORD, 'CNAME', ['primary.hosting.example']);
    const cname = step({ type: 'CNAME' });
    const site: TargetSite = { name: 'standby', routing: { target: 'Standby.Hosting.Example.' } };
    expect((await cname.read()).values).toEqual(['primary.hosting.example.']);
    await switchTo(cname, site);
    expect(served('CNAME')).toEqual(['standby.hosting.example']);
    expect(await cname.verify(site)).toMatchObject({ ok: true, observed: ['standby.hosting.example.'] });
  });
});

describe('cloudflare: failures', () => {
  it('429 then success: the controller\'s executor retries the step and it is verified; the 429 names Retry-After', async () => {
    const p = step();
    fake.failNext(429, { method: 'PATCH', retryAfter: 7 });
    const direct = await rejection(async () => p.apply(p.plan(await p.read(), STANDBY), ctx));
    expect(direct.retryable).toBe(true);
    expect(direct.message).toMatch(/rate limited by Cloudflare \(429 \[10429\] Rate limited.*\); retry after 7s$/);
    expect(served()).toEqual(['192.0.2.10']);

    fake.failNext(429, { method: 'PATCH', retryAfter: 1 });
    const op = await executeOperation(operation(), [p], STANDBY, ctx.fence, { attempts: 3, backoffMs: 1, logger, save: async () => undefined });
    expect(op.status).toBe('succeeded');
    expect(op.steps[0]).toMatchObject({ status: 'verified', attempts: 2, verified: `${RECORD} A is 198.51.100.20 ttl 60` });
    expect(fake.writes().map((w) => w.status)).toEqual([429, 429, 200]);
    expect(served()).toEqual(['198.51.100.20']);
  });

  it('5xx is retryable on reads and writes; the SDK retries only when maxRetries says so', async () => {
    const p = step();
    fake.failNext(500, { method: 'GET' });
    const readErr = await rejection(() => p.read());
    expect(readErr.retryable).toBe(true);
    expect(readErr.message).toBe(`cloudflare ${RECORD}/A: GET /zones/${zoneId}/dns_records?name.exact=${RECORD}&type=A: Cloudflare answered 500 ([10500] Internal server error)`);
    fake.failNext(503, { method: 'PATCH' });
    const writeErr = await rejection(async () => p.apply(p.plan(await p.read(), STANDBY), ctx));
    expect(writeErr.retryable).toBe(true);
    expect(fake.writes()).toHaveLength(1);

    // With maxRetries the SDK itself retries a 503 (after its own short backoff) within one apply.
    const retrying = step({ maxRetries: 1 });
    fake.failNext(503, { method: 'PATCH' });
    await switchTo(retrying, STANDBY);
    expect(fake.writes().map((w) => w.status)).toEqual([503, 503, 200]);
  });

  it('a bad token is final, says which permission is needed, and never shows the token', async () => {
    const wrong = `cf-wrong-${randomBytes(16).toString('hex')}`;
    const p = step({}, wrong);
    const readErr = await rejection(() => p.read());
    expect(readErr.retryable).toBe(false);
    expect(readErr.message).toBe(
      `cloudflare ${RECORD}/A: GET /zones/${zoneId}/dns_records?name.exact=${RECORD}&type=A: Cloudflare rejected the API token (401 [10000] Authentication error); use a valid, unexpired token with Zone.DNS edit (Zone → DNS → Edit) on zone ${zoneId}`,
    );
    const applyErr = await rejection(() => p.apply(p.plan({ values: [] }, STANDBY), ctx));
    expect(applyErr.retryable).toBe(false);
    const op = await executeOperation(operation(), [p], STANDBY, ctx.fence, { attempts: 4, backoffMs: 1, logger, save: async () => undefined });
    expect(op.status).toBe('failed');
    expect(op.steps[0].attempts).toBe(1);
    const everything = [readErr.message, readErr.stack ?? '', applyErr.message, inspect(p, { depth: 6 }), JSON.stringify(op), capture.text()].join('\n');
    expect(everything).not.toContain(wrong);
    expect(everything).not.toContain(fake.token);
    expect(served()).toEqual(['192.0.2.10']);
  });

  it('a token that may read but not edit DNS gets 403 on the write, naming Zone.DNS edit', async () => {
    const readOnly = `cf-ro-${randomBytes(16).toString('hex')}`;
    fake.readOnlyTokens.add(readOnly);
    const p = step({}, readOnly);
    const err = await rejection(async () => p.apply(p.plan(await p.read(), STANDBY), ctx));
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/Cloudflare refused the API token \(403 \[10000\] Authentication error\); it needs Zone\.DNS edit \(Zone → DNS → Edit\) on zone [0-9a-f]{32}$/);
    expect(err.message).not.toContain(readOnly);
  });

  it('an unknown zone is final; a record deleted since the read is retryable (the next attempt re-reads)', async () => {
    const p = cloudflareStep(fake, { zoneId: 'f'.repeat(32), record: RECORD }, fake.token, logger);
    const err = await rejection(() => p.read());
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/Cloudflare does not know zone f{32} \(404 \[7003\] Could not route/);

    const q = step();
    const plan = q.plan(await q.read(), STANDBY);
    fake.setRecords(zoneId, RECORD, 'A', ['192.0.2.10']);
    const gone = await rejection(() => q.apply(plan, ctx));
    expect(gone.retryable).toBe(true);
    expect(gone.message).toMatch(/the record changed since it was read \(404 \[81044\] Record does not exist\.\)/);
    await switchTo(q, STANDBY);
    expect(served()).toEqual(['198.51.100.20']);
  });

  it('verify catches a change that did not stick, and the next plan writes again', async () => {
    const p = step();
    await switchTo(p, STANDBY);
    fake.setRecords(zoneId, RECORD, 'A', ['192.0.2.10'], { ttl: 60 });
    const v = await p.verify(STANDBY);
    expect(v).toEqual({ ok: false, observed: ['192.0.2.10'], detail: 'expected 198.51.100.20 ttl 60, Cloudflare has [192.0.2.10 ttl 60]' });
    expect(p.plan(await p.read(), STANDBY).changes).toBe(true);
  });
});

describe('cloudflare: the fake refuses what Cloudflare refuses', () => {
  it('TTL outside 1 or 60–86400 is 400 with code 9021 in the error chain; a bad address is 9005', async () => {
    const post = (body: unknown) =>
      fetch(`${fake.url}/zones/${zoneId}/dns_records`, { method: 'POST', headers: { Authorization: `Bearer ${fake.token}`, 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    const res = await post({ type: 'A', name: 'x.portal.example', content: '192.0.2.1', ttl: 30 });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      success: false,
      errors: [{ code: 1004, message: 'DNS Validation Error', error_chain: [{ code: 9021, message: 'TTL must be between 60 and 86400 seconds, or 1 for Automatic.' }] }],
      messages: [],
      result: null,
    });
    const bad = await post({ type: 'A', name: 'x.portal.example', content: 'not-an-ip', ttl: 60 });
    expect(((await bad.json()) as { errors: { error_chain: { code: number }[] }[] }).errors[0].error_chain[0].code).toBe(9005);
    const good = await post({ type: 'A', name: 'x.portal.example', content: '192.0.2.1', ttl: 1 });
    expect(good.status).toBe(200);
    expect(await good.json()).toMatchObject({ success: true, errors: [], result: { name: 'x.portal.example', ttl: 1 } });
  });
});

describe('cloudflare: configuration', () => {
  const parse = (raw: Record<string, unknown>) =>
    cloudflareProvider.schema(makeFields({ CF: 'token-value-123456' })).safeParse({ kind: 'cloudflare', apiToken: '${CF}', zoneId: 'a'.repeat(32), record: 'www.portal.example.', type: 'A', ...raw });
  const messages = (raw: Record<string, unknown>) => {
    const r = parse(raw);
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };

  it('defaults: ttl 60 (1 when proxied), not proxied, no SDK retries; the record is kept without the trailing dot', () => {
    const r = parse({});
    expect(r.success && { ...r.data, apiToken: String(r.data.apiToken) }).toEqual({
      kind: 'cloudflare',
      apiToken: '[redacted]',
      zoneId: 'a'.repeat(32),
      record: 'www.portal.example',
      type: 'A',
      ttl: 60,
      proxied: false,
      timeoutMs: 5000, // fits the default 10 s lease (leaseTtl × 0.8 − renewEvery)
      maxRetries: 0,
    });
    const proxied = parse({ proxied: true });
    expect(proxied.success && proxied.data.ttl).toBe(1);
  });

  it('rejects TTLs Cloudflare would refuse, a literal token, and a malformed zone id', () => {
    expect(messages({ ttl: 30 })).toEqual(['ttl: must be 1 (automatic) or 60–86400 seconds']);
    expect(messages({ ttl: 90000 })).toEqual(['ttl: Too big: expected number to be <=86400']);
    expect(messages({ proxied: true, ttl: 60 })).toEqual(['ttl: proxied records always have automatic TTL: write ttl: 1 or leave it out']);
    expect(messages({ apiToken: 'literal-token' })).toEqual(['apiToken: secrets must be a ${ENV_VAR} reference or a file:/path, never the literal value']);
    expect(messages({ zoneId: 'portal.example' })).toEqual(['zoneId: must be the 32-character hex zone id (dashboard → Overview → API)']);
  });

  it('works through the config loader: label, cross-field checks, secret kept out of the parsed config', () => {
    const sites = [
      { name: 'primary', provider: 'a', routing: { address: '192.0.2.10' }, checks: [{ type: 'tcp', host: '192.0.2.10', port: 443, interval: '5s', timeout: '1s' }] },
      { name: 'standby', provider: 'b', routing: { address: '198.51.100.20' }, checks: [{ type: 'tcp', host: '198.51.100.20', port: 443, interval: '5s', timeout: '1s' }] },
    ];
    const env = { CF_API_TOKEN: `cf-${randomBytes(12).toString('hex')}` };
    const stepRaw = { kind: 'cloudflare', apiToken: '${CF_API_TOKEN}', zoneId: 'b'.repeat(32), record: 'www.portal.example', type: 'A' };
    const c = parseConfig({ portals: [{ id: 'p', name: 'P', sites, traffic: [stepRaw] }] }, 'test.yaml', env);
    expect(createProvider(c.portals[0].traffic[0], { logger }).label).toBe('cloudflare www.portal.example/A');
    expect(JSON.stringify(c)).not.toContain(env.CF_API_TOKEN);
    try {
      parseConfig({ portals: [{ id: 'p', name: 'P', sites, traffic: [{ ...stepRaw, type: 'CNAME' }] }] }, 'test.yaml', env);
      throw new Error('expected a ConfigError');
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).problems.map((p) => `${p.path}: ${p.message}`)).toEqual([
        'portals[0].traffic[0].type: site primary needs routing.target for a CNAME record',
        'portals[0].traffic[0].type: site standby needs routing.target for a CNAME record',
      ]);
    }
  });
});
