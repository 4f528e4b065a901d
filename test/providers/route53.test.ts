import { inspect } from 'node:util';
import { ListResourceRecordSetsCommand, Route53Client } from '@aws-sdk/client-route-53';
import { executeOperation } from '@portal-failover/controller';
import {
  createProvider,
  FENCE_TOKEN_PLACEHOLDER,
  makeFields,
  parseConfig,
  route53Provider,
  type FenceGuard,
  type Operation,
  type ProviderContext,
  type TargetSite,
} from '@portal-failover/shared';
import { captureLogger } from '../support/capture-logger';
import { startRoute53Fake, type Route53Fake } from '../support/fakes/route53-fake';
import { changesOf, route53Step, useFakeAwsCredentials } from './cloud-harnesses';
import { PRIMARY, STANDBY } from './harnesses';
import { rejection, runningOperation } from './test-kit';

/**
 * route53 against a local fake of the Route 53 REST/XML API (test/support/fakes/route53-fake.ts), with the
 * credentials coming through the standard AWS chain (environment variables): the UPSERT and the wait for INSYNC,
 * the fencing compare-and-set on the epoch TXT record that stops a stale leader inside Route 53's all-or-nothing
 * batch, retries through the controller's executor on Throttling, and final errors that name the IAM actions.
 */

const capture = captureLogger();
const { logger } = capture;
const ZONE = 'portal.example.';
const RECORD = `www.${ZONE}`;
const EPOCH = `_pf-epoch.${RECORD}`;

const fence = (token: number): FenceGuard => ({ token, assertHeld: async () => undefined });
const ctx = (token = 1): ProviderContext => ({ fence: fence(token), logger });

let fake: Route53Fake;
let zoneId: string;
beforeEach(async () => {
  fake = await startRoute53Fake({ syncDelayMs: 150 });
  useFakeAwsCredentials(fake);
  zoneId = fake.addZone(ZONE);
  fake.put(zoneId, { name: RECORD, type: 'A', ttl: 60, values: [PRIMARY.routing.address ?? ''] });
});
afterEach(async () => {
  await fake.close();
});

const step = (raw: Record<string, unknown> = {}) => route53Step(fake, { hostedZoneId: zoneId, record: RECORD, ...raw }, logger);
const served = () => fake.get(zoneId, RECORD, 'A')?.values ?? [];
const epoch = () => fake.get(zoneId, EPOCH, 'TXT');

async function switchTo(p: ReturnType<typeof step>, site: TargetSite, token = 1): Promise<void> {
  await p.apply(p.plan(await p.read(), site), ctx(token));
}

const operation = (): Operation => runningOperation('route53');

describe('route53: switching a record', () => {
  it('one batch: CREATE the epoch with the fencing token + UPSERT the record; waits for INSYNC; verify reads it back', async () => {
    fake.syncDelayMs = 600;
    const p = step({ syncPoll: '100ms' });
    const state = await p.read();
    expect(state).toEqual({ values: ['192.0.2.10'], ttl: 60, detail: 'ttl 60, no epoch yet', epoch: null });
    const plan = p.plan(state, STANDBY);
    expect(plan).toEqual({
      kind: 'route53',
      target: 'standby',
      changes: true,
      description: `ChangeResourceRecordSets hostedzone/${zoneId}: UPSERT ${RECORD} A [192.0.2.10] -> 198.51.100.20 ttl 60; epoch ${EPOCH} TXT none -> fence token`,
      request: {
        hostedZoneId: zoneId,
        changeBatch: {
          Comment: `portal-failover: ${RECORD} A -> site standby`,
          Changes: [
            { Action: 'CREATE', ResourceRecordSet: { Name: EPOCH, Type: 'TXT', TTL: 60, ResourceRecords: [{ Value: FENCE_TOKEN_PLACEHOLDER }] } },
            { Action: 'UPSERT', ResourceRecordSet: { Name: RECORD, Type: 'A', TTL: 60, ResourceRecords: [{ Value: '198.51.100.20' }] } },
          ],
        },
        fence: { record: EPOCH, current: null, tokenAt: 'changeBatch.Changes[].ResourceRecordSet.ResourceRecords[].Value' },
      },
    });
    const started = Date.now();
    await p.apply(plan, ctx(3));
    const took = Date.now() - started;

    // apply returned only once GetChange said INSYNC: PENDING first, polled every 100 ms.
    expect(took).toBeGreaterThanOrEqual(550);
    expect(took).toBeLessThan(3000);
    const polls = fake.requests.filter((r) => r.action === 'GetChange');
    expect(polls.length).toBeGreaterThanOrEqual(3);
    expect(polls.every((r) => r.status === 200)).toBe(true);

    expect(served()).toEqual(['198.51.100.20']);
    expect(epoch()).toEqual({ name: EPOCH, type: 'TXT', ttl: 60, values: ['"3"'] });
    expect(fake.acceptedBatches()).toEqual([
      [
        { action: 'CREATE', set: { name: EPOCH, type: 'TXT', ttl: 60, values: ['"3"'] } },
        { action: 'UPSERT', set: { name: RECORD, type: 'A', ttl: 60, values: ['198.51.100.20'] } },
      ],
    ]);
    expect(await p.verify(STANDBY)).toEqual({ ok: true, observed: ['198.51.100.20'], detail: `${RECORD} A is 198.51.100.20 ttl 60` });
  });

  it('the next switch deletes the epoch exactly as read and creates it with the new token', async () => {
    const p = step();
    await switchTo(p, STANDBY, 4);
    const state = await p.read();
    expect(state).toMatchObject({ detail: 'ttl 60, epoch "4"', epoch: { ttl: 60, values: ['"4"'] } });
    await p.apply(p.plan(state, PRIMARY), ctx(7));
    expect(fake.acceptedBatches()[1]).toEqual([
      { action: 'DELETE', set: { name: EPOCH, type: 'TXT', ttl: 60, values: ['"4"'] } },
      { action: 'CREATE', set: { name: EPOCH, type: 'TXT', ttl: 60, values: ['"7"'] } },
      { action: 'UPSERT', set: { name: RECORD, type: 'A', ttl: 60, values: ['192.0.2.10'] } },
    ]);
    expect(served()).toEqual(['192.0.2.10']);
    expect(epoch()?.values).toEqual(['"7"']);
    // The same leader again (same token) may write: the epoch is replaced by itself.
    await switchTo(p, STANDBY, 7);
    expect(epoch()?.values).toEqual(['"7"']);
    expect(served()).toEqual(['198.51.100.20']);
  });

  it('re-applying the same target makes no write (and no GetChange)', async () => {
    const p = step();
    await switchTo(p, STANDBY);
    const before = fake.requests.filter((r) => r.action !== 'ListResourceRecordSets').length;
    for (let i = 0; i < 3; i++) {
      const plan = p.plan(await p.read(), STANDBY);
      expect(plan).toMatchObject({ changes: false, description: `${RECORD} A already 198.51.100.20` });
      await p.apply(plan, ctx());
    }
    expect(fake.requests.filter((r) => r.action !== 'ListResourceRecordSets')).toHaveLength(before);
    expect(fake.writes()).toHaveLength(1);
  });

  it('without fencing the batch is the UPSERT alone', async () => {
    const p = step({ fencing: false });
    const state = await p.read();
    expect(state).toEqual({ values: ['192.0.2.10'], ttl: 60, detail: 'ttl 60' });
    const plan = p.plan(state, STANDBY);
    expect(plan.request).not.toHaveProperty('fence');
    await p.apply(plan, ctx());
    expect(fake.acceptedBatches()).toEqual([[{ action: 'UPSERT', set: { name: RECORD, type: 'A', ttl: 60, values: ['198.51.100.20'] } }]]);
    expect(epoch()).toBeUndefined();
  });

  it('CNAME targets are written absolute and compared case-insensitively', async () => {
    fake.put(zoneId, { name: RECORD, type: 'A', ttl: 60, values: [] });
    fake.put(zoneId, { name: RECORD, type: 'CNAME', ttl: 60, values: ['primary.hosting.example.'] });
    const p = step({ type: 'CNAME' });
    const site: TargetSite = { name: 'standby', routing: { target: 'Standby.Hosting.Example' } };
    expect((await p.read()).values).toEqual(['primary.hosting.example.']);
    await switchTo(p, site);
    expect(fake.get(zoneId, RECORD, 'CNAME')?.values).toEqual(['standby.hosting.example.']);
    expect(await p.verify(site)).toMatchObject({ ok: true, observed: ['standby.hosting.example.'] });
  });
});

describe('route53: fencing', () => {
  it('a leader whose token is older than the epoch refuses before sending anything', async () => {
    const successor = step();
    await switchTo(successor, STANDBY, 6);
    const writes = fake.writes().length;

    const stale = step();
    const err = await rejection(async () => stale.apply(stale.plan(await stale.read(), PRIMARY), ctx(5)));
    expect(err.retryable).toBe(false);
    expect(err.message).toBe(`route53 ${RECORD}/A: lease lost: ${EPOCH} holds fencing token 6, newer than ours (5); a newer leader has written this record, so nothing was sent`);
    expect(fake.writes()).toHaveLength(writes);
    expect(served()).toEqual(['198.51.100.20']);
  });

  it('a stale leader that read before its successor wrote: Route 53 refuses the whole batch, nothing changes', async () => {
    const first = step();
    await switchTo(first, STANDBY, 4);

    // Leader A (token 5) reads and plans a switch back to primary...
    const a = step();
    const planA = a.plan(await a.read(), PRIMARY);
    // ...then loses its lease without noticing; leader B (token 6) switches to a third site.
    const third: TargetSite = { name: 'third', routing: { address: '203.0.113.50' } };
    const b = step();
    await switchTo(b, third, 6);
    expect(epoch()?.values).toEqual(['"6"']);

    // A's lease check still passes (a stuck process, a clock jump): only Route 53's compare-and-set stops it.
    const err = await rejection(() => a.apply(planA, ctx(5)));
    expect(err.retryable).toBe(false);
    expect(err.message).toContain('fencing compare-and-set failed, lease lost');
    expect(err.message).toContain(`Tried to delete resource record set [name='${EPOCH}', type='TXT'] but the values provided do not match the current values`);
    const refused = fake.writes().at(-1);
    expect(refused).toMatchObject({ status: 400, errorCode: 'InvalidChangeBatch' });
    // The refused batch did carry A's whole switch, and none of it happened.
    expect(changesOf(refused?.body ?? '').map((c) => c.Action)).toEqual(['DELETE', 'CREATE', 'UPSERT']);
    expect(served()).toEqual(['203.0.113.50']);
    expect(epoch()?.values).toEqual(['"6"']);

    // Through the executor it is final at once: no retry would help a deposed leader.
    const op = await executeOperation(operation(), [a], PRIMARY, fence(5), { attempts: 4, backoffMs: 1, logger, save: async () => undefined });
    expect(op.status).toBe('failed');
    expect(op.steps[0].attempts).toBe(1);
    expect(served()).toEqual(['203.0.113.50']);
  });

  it('a plan made without a read assumes no epoch; if one exists the CREATE fails and nothing changes', async () => {
    const p = step();
    await switchTo(p, STANDBY, 2);
    const err = await rejection(() => p.apply(p.plan({ values: [] }, PRIMARY), ctx(3)));
    expect(err.retryable).toBe(false);
    expect(err.message).toContain(`Tried to create resource record set [name='${EPOCH}', type='TXT'] but it already exists`);
    expect(served()).toEqual(['198.51.100.20']);
  });
});

describe('route53: waiting for INSYNC', () => {
  it('a change still PENDING at syncTimeout is a retryable error; verify keeps failing until it is INSYNC', async () => {
    fake.syncDelayMs = 60_000;
    const p = step({ syncTimeout: '300ms', syncPoll: '50ms' });
    const err = await rejection(async () => p.apply(p.plan(await p.read(), STANDBY), ctx()));
    expect(err.retryable).toBe(true);
    expect(err.message).toMatch(/change \/change\/C\w+ was accepted but is still PENDING after \d+ms \(syncTimeout 300ms\)$/);
    // Route 53 already lists the new value; verify still says no because the change has not reached the servers.
    expect(served()).toEqual(['198.51.100.20']);
    const pending = await p.verify(STANDBY);
    expect(pending).toMatchObject({ ok: false, observed: ['198.51.100.20'] });
    expect(pending.detail).toMatch(/^change \/change\/C\w+ is still PENDING after/);

    fake.syncDelayMs = 0;
    expect(await p.verify(STANDBY)).toMatchObject({ ok: true, detail: expect.stringMatching(/^www\.portal\.example\. A is 198\.51\.100\.20 ttl 60 \(change \/change\/C\w+ INSYNC\)$/) });
  });

  it('a throttled GetChange slows the polling down instead of failing the step', async () => {
    fake.syncDelayMs = 200;
    fake.failNext('Throttling', { times: 2, action: 'GetChange' });
    const p = step({ syncPoll: '50ms' });
    await switchTo(p, STANDBY);
    const polls = fake.requests.filter((r) => r.action === 'GetChange');
    expect(polls.slice(0, 2).map((r) => r.errorCode)).toEqual(['Throttling', 'Throttling']);
    expect(polls.at(-1)?.status).toBe(200);
    expect((await p.verify(STANDBY)).ok).toBe(true);
  });
});

describe('route53: failures', () => {
  it('Throttling then success: the controller\'s executor retries the step and it is verified', async () => {
    const p = step();
    fake.failNext('Throttling', { action: 'ChangeResourceRecordSets' });
    const op = await executeOperation(operation(), [p], STANDBY, fence(1), { attempts: 3, backoffMs: 1, logger, save: async () => undefined });
    expect(op.status).toBe('succeeded');
    expect(op.steps[0]).toMatchObject({ status: 'verified', attempts: 2 });
    expect(fake.writes().map((w) => [w.status, w.errorCode])).toEqual([
      [400, 'Throttling'],
      [200, undefined],
    ]);
    expect(served()).toEqual(['198.51.100.20']);
  });

  it('PriorRequestNotComplete and 5xx are retryable', async () => {
    const p = step();
    fake.failNext('PriorRequestNotComplete', { action: 'ChangeResourceRecordSets' });
    const prior = await rejection(async () => p.apply(p.plan(await p.read(), STANDBY), ctx()));
    expect(prior.retryable).toBe(true);
    expect(prior.message).toBe(`route53 ${RECORD}/A: ChangeResourceRecordSets on hostedzone/${zoneId}: PriorRequestNotComplete: The request was rejected because Route 53 was still processing a prior request.`);
    fake.failNext('InternalFailure', { action: 'ListResourceRecordSets' });
    const internal = await rejection(() => p.read());
    expect(internal.retryable).toBe(true);
    fake.failNext('ServiceUnavailable');
    expect((await rejection(() => p.read())).retryable).toBe(true);
    expect(served()).toEqual(['192.0.2.10']);
  });

  it('AccessDenied is final and names the IAM actions; no secret in it', async () => {
    fake.deny(zoneId);
    const p = step();
    const err = await rejection(() => p.read());
    expect(err.retryable).toBe(false);
    expect(err.message).toContain(`route53 ${RECORD}/A: ListResourceRecordSets ${RECORD} A on hostedzone/${zoneId}: access denied (AccessDenied: User: arn:aws:iam::123456789012:user/portal-failover is not authorized to perform: route53:ListResourceRecordSets`);
    expect(err.message).toMatch(/the credentials need route53:ChangeResourceRecordSets, route53:GetChange, route53:ListResourceRecordSets on hostedzone\/Z\w+$/);
    const applyErr = await rejection(() => p.apply(p.plan({ values: [] }, STANDBY), ctx()));
    expect(applyErr.retryable).toBe(false);
    const op = await executeOperation(operation(), [p], STANDBY, fence(1), { attempts: 4, backoffMs: 1, logger, save: async () => undefined });
    expect(op).toMatchObject({ status: 'failed', steps: [{ attempts: 1 }] });
    const everything = [err.message, err.stack ?? '', applyErr.message, JSON.stringify(op), inspect(p, { depth: 6 }), capture.text()].join('\n');
    expect(everything).not.toContain(fake.secretAccessKey);
  });

  it('a key AWS does not know, and a hosted zone that does not exist, are final', async () => {
    const p = step();
    const saved = process.env.AWS_ACCESS_KEY_ID;
    process.env.AWS_ACCESS_KEY_ID = 'AKIAUNKNOWNKEY000000';
    try {
      const err = await rejection(() => p.read());
      expect(err.retryable).toBe(false);
      expect(err.message).toContain('AWS rejected the credentials (InvalidClientTokenId: The security token included in the request is invalid.)');
    } finally {
      process.env.AWS_ACCESS_KEY_ID = saved;
    }
    const missing = route53Step(fake, { hostedZoneId: 'ZDOESNOTEXIST', record: RECORD }, logger);
    const err = await rejection(() => missing.read());
    expect(err.retryable).toBe(false);
    expect(err.message).toContain('no such hosted zone (NoSuchHostedZone: No hosted zone found with ID: ZDOESNOTEXIST); check hostedZoneId');
  });

  it('an invalid change (a CNAME next to the A record) is final with Route 53\'s reason', async () => {
    const p = step({ type: 'CNAME', fencing: false });
    const site: TargetSite = { name: 'standby', routing: { target: 'standby.hosting.example.' } };
    const err = await rejection(async () => p.apply(p.plan(await p.read(), site), ctx()));
    expect(err.retryable).toBe(false);
    expect(err.message).toContain(`Route 53 refused the change batch (InvalidChangeBatch: [RRSet of type CNAME with DNS name ${RECORD} is not permitted as it conflicts with other records with the same DNS name in zone ${ZONE}])`);
    expect(served()).toEqual(['192.0.2.10']);
  });

  it('verify catches a change that did not stick', async () => {
    const p = step();
    await switchTo(p, STANDBY);
    fake.put(zoneId, { name: RECORD, type: 'A', ttl: 60, values: ['192.0.2.10'] });
    expect(await p.verify(STANDBY)).toEqual({ ok: false, observed: ['192.0.2.10'], detail: `expected 198.51.100.20 ttl 60, Route 53 has [192.0.2.10] (ttl 60, epoch "1")` });
    fake.put(zoneId, { name: RECORD, type: 'A', ttl: 300, values: ['198.51.100.20'] });
    expect((await p.verify(STANDBY)).ok).toBe(false);
    expect(p.plan(await p.read(), STANDBY).changes).toBe(true);
  });
});

describe('route53: the fake pages like Route 53', () => {
  it('lists from name/type on in reversed-label order, MaxItems at a time, with NextRecordName/NextRecordType', async () => {
    for (const n of ['a', 'b', 'c']) fake.put(zoneId, { name: `${n}.${ZONE}`, type: 'A', ttl: 60, values: ['192.0.2.1'] });
    fake.put(zoneId, { name: `x.www.${ZONE}`, type: 'A', ttl: 60, values: ['192.0.2.1'] });
    fake.put(zoneId, { name: RECORD, type: 'TXT', ttl: 60, values: ['"hello"'] });
    const client = new Route53Client({ region: 'us-east-1', endpoint: fake.endpoint, maxAttempts: 1 });
    const seen: string[] = [];
    let start: { name?: string; type?: string } = { name: `b.${ZONE}` };
    for (let i = 0; i < 10; i++) {
      const out = await client.send(
        new ListResourceRecordSetsCommand({ HostedZoneId: zoneId, StartRecordName: start.name, StartRecordType: start.type as 'A' | undefined, MaxItems: 2 }),
      );
      seen.push(...(out.ResourceRecordSets ?? []).map((s) => `${s.Name} ${s.Type}`));
      if (!out.IsTruncated) break;
      start = { name: out.NextRecordName, type: out.NextRecordType };
    }
    client.destroy();
    expect(seen).toEqual([`b.${ZONE} A`, `c.${ZONE} A`, `${RECORD} A`, `${RECORD} TXT`, `x.www.${ZONE} A`]);
  });
});

describe('route53: the fake refuses what Route 53 refuses', () => {
  it('an unsigned request is 403 AccessDenied in the XML error envelope', async () => {
    const res = await fetch(`${fake.endpoint}/2013-04-01/hostedzone/${zoneId}/rrset?name=${RECORD}&type=A`);
    expect(res.status).toBe(403);
    expect(await res.text()).toMatch(
      /^<\?xml version="1\.0"\?>\n<ErrorResponse xmlns="https:\/\/route53\.amazonaws\.com\/doc\/2013-04-01\/"><Error><Type>Sender<\/Type><Code>AccessDenied<\/Code><Message>Missing Authentication Token[^<]*<\/Message><\/Error><RequestId>[0-9a-f]+<\/RequestId><\/ErrorResponse>$/,
    );
  });
});

describe('route53: configuration', () => {
  const parse = (raw: Record<string, unknown>) =>
    route53Provider.schema(makeFields({})).safeParse({ kind: 'route53', hostedZoneId: '/hostedzone/Z0123456789ABC', record: 'WWW.portal.example', type: 'A', ...raw });

  it('defaults: ttl 60, us-east-1, fencing on, 250 ms polls for at most 2 minutes; the zone id loses its prefix', () => {
    const r = parse({});
    expect(r.success && r.data).toEqual({
      kind: 'route53',
      hostedZoneId: 'Z0123456789ABC',
      record: 'www.portal.example.',
      type: 'A',
      ttl: 60,
      region: 'us-east-1',
      fencing: true,
      timeoutMs: 5000, // fits the default 10 s lease (leaseTtl × 0.8 − renewEvery)
      syncTimeoutMs: 120000,
      syncPollMs: 250,
    });
    expect(parse({ hostedZoneId: 'not a zone' }).success).toBe(false);
    expect(parse({ accessKeyId: 'AKIA…' }).success).toBe(false);
  });

  it('works through the config loader with a readable label', () => {
    const sites = [
      { name: 'primary', provider: 'a', routing: { address: '2001:db8::10' }, checks: [{ type: 'tcp', host: '192.0.2.10', port: 443, interval: '5s', timeout: '1s' }] },
      { name: 'standby', provider: 'b', routing: { address: '2001:db8::20' }, checks: [{ type: 'tcp', host: '198.51.100.20', port: 443, interval: '5s', timeout: '1s' }] },
    ];
    const c = parseConfig({ portals: [{ id: 'p', name: 'P', sites, traffic: [{ kind: 'route53', hostedZoneId: 'Z0123456789ABC', record: 'www.portal.example', type: 'AAAA' }] }] }, 'test.yaml', {});
    expect(createProvider(c.portals[0].traffic[0], { logger }).label).toBe('route53 www.portal.example./AAAA');
  });
});
