import { randomBytes } from 'node:crypto';
import {
  cloudflareProvider,
  FENCE_TOKEN_PLACEHOLDER,
  makeFields,
  route53Provider,
  type Logger,
  type TrafficProvider,
} from '@portal-failover/shared';
import { startCloudflareFake, type CloudflareFake } from '../support/fakes/cloudflare-fake';
import { parseXml, startRoute53Fake, type Route53Fake } from '../support/fakes/route53-fake';
import { freePort } from '../support/free-port';
import { PRIMARY, type Harness } from './harnesses';

/**
 * Conformance harnesses (test/providers/conformance.test.ts) for the two cloud DNS providers. Their real
 * counterparts are Cloudflare's and AWS's APIs, which tests cannot reach, so each runs against a local fake of
 * that API (test/support/fakes/) that keeps its own state, refuses what the real API refuses, and records every
 * request: observe() looks at the fake's state directly, not through the provider.
 */

const TAMPERED = '203.0.113.7';

// ---------------------------------------------------------------------------------------------------------------

export function cloudflareStep(fake: { url: string }, raw: Record<string, unknown>, token: string, logger: Logger): TrafficProvider {
  const step = cloudflareProvider.schema(makeFields({ CF_API_TOKEN: token })).parse({
    kind: 'cloudflare',
    apiToken: '${CF_API_TOKEN}',
    baseUrl: fake.url,
    type: 'A',
    ttl: 60,
    timeout: '3s',
    ...raw,
  });
  return cloudflareProvider.create(step, { logger });
}

export async function cloudflareHarness(): Promise<Harness> {
  const fake: CloudflareFake = await startCloudflareFake();
  const wrongToken = `cf-wrong-${randomBytes(16).toString('hex')}`;
  let zoneId = '';
  const record = 'www.portal.example';
  return {
    kind: 'cloudflare',
    primary: PRIMARY,
    standby: { name: 'standby', routing: { address: '198.51.100.20' } },
    secrets: [fake.token, wrongToken],
    readValues: (s) => [s.routing.address ?? ''],
    observed: (s) => [s.routing.address ?? ''],
    expectWritesMatch(writes, plan) {
      const ops = plan.request.operations as { method: string; path: string; body?: unknown }[];
      expect(ops).toHaveLength(1);
      expect(writes).toHaveLength(ops.length);
      (writes as { method: string; path: string; body: string; status?: number }[]).forEach((w, k) => {
        expect(w.method).toBe(ops[k].method);
        expect(w.path).toBe(ops[k].path);
        if (ops[k].body !== undefined) expect(JSON.parse(w.body)).toEqual(ops[k].body);
        expect(w.status).toBe(200);
      });
    },
    async newCase(logger) {
      zoneId = fake.addZone('portal.example');
      fake.setRecords(zoneId, record, 'A', [PRIMARY.routing.address ?? ''], { ttl: 60 });
      const zonePath = `/zones/${zoneId}/`;
      const start = fake.requests.length;
      const mine = () => fake.requests.slice(start).filter((r) => r.path.startsWith(zonePath));
      const caseZone = zoneId;
      return {
        provider: cloudflareStep(fake, { zoneId, record }, fake.token, logger),
        observe: async () => fake.records(caseZone, record, 'A').map((r) => r.content).sort(),
        writes: async () => mine().filter((r) => r.method !== 'GET'),
        requests: () => mine().length,
        tamper: async () => void fake.setRecords(caseZone, record, 'A', [TAMPERED], { ttl: 60 }),
        withTtl: (ttl) => cloudflareStep(fake, { zoneId: caseZone, record, ttl }, fake.token, logger),
        close: async () => undefined,
      };
    },
    async unreachable(logger) {
      const port = await freePort();
      return {
        provider: cloudflareStep({ url: `http://127.0.0.1:${port}/client/v4` }, { zoneId: '0'.repeat(32), record }, fake.token, logger),
        retryable: true,
        mentions: 'ECONNREFUSED',
      };
    },
    wrongCredential: (logger) => cloudflareStep(fake, { zoneId: zoneId || fake.addZone('portal.example'), record }, wrongToken, logger),
    close: () => fake.close(),
  };
}

// ---------------------------------------------------------------------------------------------------------------

/**
 * Points the standard AWS credential chain at the fake's key, through the environment as production would, and
 * keeps the chain from reaching for an instance role (there is no metadata service here).
 */
export function useFakeAwsCredentials(fake: Route53Fake): void {
  process.env.AWS_ACCESS_KEY_ID = fake.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = fake.secretAccessKey;
  delete process.env.AWS_SESSION_TOKEN;
  delete process.env.AWS_PROFILE;
  process.env.AWS_EC2_METADATA_DISABLED = 'true';
}

export function route53Step(fake: { endpoint: string }, raw: Record<string, unknown>, logger: Logger): TrafficProvider {
  const step = route53Provider.schema(makeFields({})).parse({
    kind: 'route53',
    endpoint: fake.endpoint,
    region: 'us-east-1',
    type: 'A',
    ttl: 60,
    timeout: '3s',
    syncPoll: '50ms',
    syncTimeout: '10s',
    ...raw,
  });
  return route53Provider.create(step, { logger });
}

interface XmlChange {
  Action: string;
  ResourceRecordSet: { Name: string; Type: string; TTL: number; ResourceRecords: { Value: string }[] };
}

/** The Changes of a ChangeResourceRecordSetsRequest body, in the plan's shape. */
export function changesOf(xml: string): XmlChange[] {
  const root = parseXml(xml);
  const get = (n: (typeof root)['children'][number] | undefined, name: string) => n?.children.find((c) => c.name === name);
  const changes = get(get(root, 'ChangeBatch'), 'Changes')?.children ?? [];
  return changes.map((c) => {
    const rrs = get(c, 'ResourceRecordSet');
    return {
      Action: get(c, 'Action')?.text ?? '',
      ResourceRecordSet: {
        Name: get(rrs, 'Name')?.text ?? '',
        Type: get(rrs, 'Type')?.text ?? '',
        TTL: Number(get(rrs, 'TTL')?.text),
        ResourceRecords: (get(rrs, 'ResourceRecords')?.children ?? []).map((r) => ({ Value: get(r, 'Value')?.text ?? '' })),
      },
    };
  });
}

export async function route53Harness(): Promise<Harness> {
  const fake = await startRoute53Fake({ syncDelayMs: 100 });
  useFakeAwsCredentials(fake);
  let zoneId = '';
  const zoneFor = () => `conf-${randomBytes(4).toString('hex')}.example.`;
  return {
    kind: 'route53',
    primary: PRIMARY,
    standby: { name: 'standby', routing: { address: '198.51.100.20' } },
    secrets: [fake.secretAccessKey],
    readValues: (s) => [s.routing.address ?? ''],
    observed: (s) => [s.routing.address ?? ''],
    expectWritesMatch(writes, plan) {
      expect(writes).toHaveLength(1);
      const [w] = writes as { body: string; status?: number }[];
      expect(w.status).toBe(200);
      const planned = (plan.request.changeBatch as { Changes: XmlChange[] }).Changes;
      const sent = changesOf(w.body);
      expect(sent).toHaveLength(planned.length);
      sent.forEach((c, k) => {
        const p = planned[k];
        const fenced = p.ResourceRecordSet.ResourceRecords.some((r) => r.Value === FENCE_TOKEN_PLACEHOLDER);
        if (fenced) {
          // The one value plan() cannot know: apply writes the fencing token of its context there.
          expect(c).toMatchObject({ Action: p.Action, ResourceRecordSet: { Name: p.ResourceRecordSet.Name, Type: 'TXT', TTL: p.ResourceRecordSet.TTL } });
          expect(c.ResourceRecordSet.ResourceRecords).toEqual([{ Value: expect.stringMatching(/^"\d+"$/) }]);
        } else {
          expect(c).toEqual(p);
        }
      });
      expect(sent.map((c) => c.Action)).toContain('UPSERT');
    },
    async newCase(logger) {
      const zone = zoneFor();
      zoneId = fake.addZone(zone);
      const record = `www.${zone}`;
      fake.put(zoneId, { name: record, type: 'A', ttl: 60, values: [PRIMARY.routing.address ?? ''] });
      const start = fake.requests.length;
      const caseZone = zoneId;
      const mine = () => fake.requests.slice(start).filter((r) => r.path.includes(`/hostedzone/${caseZone}/`) || r.action === 'GetChange');
      return {
        provider: route53Step(fake, { hostedZoneId: zoneId, record }, logger),
        observe: async () => fake.get(caseZone, record, 'A')?.values.slice().sort() ?? [],
        writes: async () => mine().filter((r) => r.action === 'ChangeResourceRecordSets'),
        requests: () => mine().length,
        tamper: async () => fake.put(caseZone, { name: record, type: 'A', ttl: 60, values: [TAMPERED] }),
        withTtl: (ttl) => route53Step(fake, { hostedZoneId: caseZone, record, ttl }, logger),
        close: async () => undefined,
      };
    },
    async unreachable(logger) {
      const port = await freePort();
      return {
        provider: route53Step({ endpoint: `http://127.0.0.1:${port}` }, { hostedZoneId: 'ZNOWHERE', record: 'www.nowhere.example.' }, logger),
        retryable: true,
        mentions: 'ECONNREFUSED',
      };
    },
    // The key is valid, but its IAM policy does not cover this hosted zone: AccessDenied, which waiting will not fix.
    wrongCredential: (logger) => {
      const zone = zoneId || fake.addZone(zoneFor());
      fake.deny(zone);
      const name = fake.sets(zone).find((s) => s.type === 'A')?.name ?? `www.${zoneFor()}`;
      return route53Step(fake, { hostedZoneId: zone, record: name }, logger);
    },
    close: () => fake.close(),
  };
}
