import { inspect } from 'node:util';
import { LeaseLostError, ProviderError, providerDefinition, providerDefinitions, type FenceGuard, type Logger, type ProviderContext, type StepPlan } from '@portal-failover/shared';
import { captureLogger } from '../support/capture-logger';
import { haproxyHarness, powerdnsHarness, rfc2136Harness, rfc2136KnotHarness, webhookHarness, zonefileHarness, type Case, type Harness } from './harnesses';
import { cloudflareHarness, route53Harness } from './cloud-harnesses';

/**
 * The one suite every traffic provider passes, each against its real counterpart: PowerDNS (the run-wide one from
 * the global setup), BIND 9 over RFC 2136 + TSIG and HAProxy's runtime API (both started here, on free loopback
 * ports), zone files in temp directories, and a local webhook receiver. A missing named or haproxy fails the
 * provider's block with the install hint; nothing is skipped.
 *
 * What every provider promises (shared/src/providers/provider.ts): read reports what is served; plan is pure and
 * its request is exactly what apply sends; apply checks the fence before writing and does nothing when the plan
 * says no change; verify reads the result back and notices a change that did not stick; failures are
 * ProviderErrors that say whether a retry can help; secrets never show up in labels, plans, errors or logs.
 */

const factories: [string, () => Promise<Harness>][] = [
  ['powerdns', powerdnsHarness],
  ['zonefile', zonefileHarness],
  ['rfc2136', rfc2136Harness],
  // The same provider against Knot DNS; `kind` below drops the parenthesised server name.
  ['rfc2136 (Knot)', rfc2136KnotHarness],
  ['haproxy', haproxyHarness],
  ['webhook', webhookHarness],
  ['cloudflare', cloudflareHarness],
  ['route53', route53Harness],
];

// The registry is the list of providers; a provider without a harness here would ship untested.
it('runs every registered provider', () => {
  const covered = new Set(factories.map(([title]) => title.replace(/ \(.*\)$/, '')));
  expect([...covered].sort()).toEqual(providerDefinitions.map((d) => d.kind).sort());
});

const lostFence: FenceGuard = { token: 9, assertHeld: () => Promise.reject(new LeaseLostError('lease with fencing token 9 is no longer held')) };

async function rejection(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection, but the call succeeded');
}

/** Every way an error gets printed, so a secret hiding in any of them is found. */
function errorTexts(err: unknown): string[] {
  const e = err as Error;
  return [e.message, String(e), e.stack ?? '', JSON.stringify(e), inspect(e)];
}

describe.each(factories)('%s provider conformance', (title, factory) => {
  const kind = title.replace(/ \(.*\)$/, '');
  let h: Harness;
  let c: Case | undefined;
  const capture = captureLogger();
  const logger: Logger = capture.logger;
  /** Everything printable the provider produced in this block; the last test searches it for secrets. */
  const printed: string[] = [];

  const ctx = (fence: FenceGuard = { token: 1, assertHeld: async () => undefined }): ProviderContext => ({ fence, logger });
  const note = (plan: StepPlan) => {
    printed.push(JSON.stringify(plan), plan.description);
    return plan;
  };
  const newCase = async (): Promise<Case> => {
    c = await h.newCase(logger);
    printed.push(c.provider.label, inspect(c.provider, { depth: 5 }));
    return c;
  };

  beforeAll(async () => {
    h = await factory();
  });
  afterEach(async () => {
    await c?.close();
    c = undefined;
  });
  afterAll(async () => {
    await h?.close();
  });

  it('reads what the server serves now', async () => {
    const t = await newCase();
    expect(t.provider.kind).toBe(kind);
    expect(t.provider.label.startsWith(`${kind} `)).toBe(true);
    const state = await t.provider.read();
    expect(state.values).toEqual(h.readValues(h.primary));
    expect(await t.observe()).toEqual(h.observed(h.primary));
  });

  it('plan is pure, JSON-safe, and says whether anything changes', async () => {
    const t = await newCase();
    const current = await t.provider.read();
    const frozen = structuredClone(current);
    const requestsBefore = t.requests();

    const a = note(t.provider.plan(current, h.standby));
    const b = t.provider.plan(current, h.standby);
    expect(b).toEqual(a);
    expect(current).toEqual(frozen);
    expect(t.requests()).toBe(requestsBefore);
    expect(await t.writes()).toEqual([]);

    expect(a).toMatchObject({ kind, target: h.standby.name, changes: true });
    expect(a.description).not.toBe('');
    expect(JSON.parse(JSON.stringify(a))).toEqual(a);
    const same = note(t.provider.plan(current, h.primary));
    expect(same).toMatchObject({ target: h.primary.name, changes: false });
    // Planning never touched the server.
    expect(await t.observe()).toEqual(h.observed(h.primary));
  });

  it('apply checks the fence first, sends exactly the planned request, and verify reads it back', async () => {
    const t = await newCase();
    const plan = note(t.provider.plan(await t.provider.read(), h.standby));
    const writesSeenByFence: number[] = [];
    await t.provider.apply(plan, ctx({ token: 2, assertHeld: async () => void writesSeenByFence.push((await t.writes()).length) }));
    expect(writesSeenByFence.length).toBeGreaterThanOrEqual(1);
    expect(writesSeenByFence[0]).toBe(0);

    h.expectWritesMatch(await t.writes(), plan);
    expect(await t.observe()).toEqual(h.observed(h.standby));
    const verified = await t.provider.verify(h.standby);
    printed.push(verified.detail);
    expect(verified).toMatchObject({ ok: true, observed: h.readValues(h.standby) });
    expect((await t.provider.verify(h.primary)).ok).toBe(false);
    expect((await t.provider.read()).values).toEqual(h.readValues(h.standby));
  });

  it('re-applying the same target makes no write', async () => {
    const t = await newCase();
    await t.provider.apply(note(t.provider.plan(await t.provider.read(), h.standby)), ctx());
    const writes = (await t.writes()).length;

    const again = note(t.provider.plan(await t.provider.read(), h.standby));
    expect(again.changes).toBe(false);
    await t.provider.apply(again, ctx());
    await t.provider.apply(again, ctx());
    expect(await t.writes()).toHaveLength(writes);
    expect((await t.provider.verify(h.standby)).ok).toBe(true);
  });

  it('a DNS step with another TTL writes the same value with it and reads it back, then the configured TTL again (what a risk window does)', async () => {
    const c = await newCase();
    const dns = ['powerdns', 'zonefile', 'rfc2136', 'cloudflare', 'route53'].includes(kind);
    expect(c.withTtl !== undefined).toBe(dns);
    if (!c.withTtl) return; // load balancers and webhooks have no TTL
    const configured = (await c.provider.read()).ttl ?? 0;
    expect(c.provider.plan(await c.provider.read(), h.primary).changes).toBe(false);
    // Lower where the provider's API allows it (a risk window), else higher: a TTL-only change either way.
    const lowest = providerDefinition(kind)?.lowestTtl ?? 5;
    const other = lowest < configured ? Math.max(5, lowest) : configured + 60;
    for (const [p, ttl] of [[c.withTtl(other), other], [c.provider, configured]] as const) {
      const plan = note(p.plan(await p.read(), h.primary));
      expect(plan.changes).toBe(true);
      await p.apply(plan, ctx());
      const after = await p.read();
      expect(after).toMatchObject({ values: h.readValues(h.primary), ttl });
      expect(p.plan(after, h.primary).changes).toBe(false);
      expect((await p.verify(h.primary)).ok).toBe(true);
      expect(await c.observe()).toEqual(h.observed(h.primary));
    }
  });

  it('a lost lease stops the write', async () => {
    const t = await newCase();
    const plan = note(t.provider.plan(await t.provider.read(), h.standby));
    await expect(t.provider.apply(plan, ctx(lostFence))).rejects.toBeInstanceOf(LeaseLostError);
    expect(await t.writes()).toEqual([]);
    expect(await t.observe()).toEqual(h.observed(h.primary));
    expect((await t.provider.read()).values).toEqual(h.readValues(h.primary));
  });

  it('verify catches a change that did not stick', async () => {
    const t = await newCase();
    await t.provider.apply(note(t.provider.plan(await t.provider.read(), h.standby)), ctx());
    expect((await t.provider.verify(h.standby)).ok).toBe(true);

    await t.tamper();
    expect(await t.observe()).not.toEqual(h.observed(h.standby));
    const after = await t.provider.verify(h.standby);
    printed.push(after.detail);
    expect(after.ok).toBe(false);
    expect(after.observed).not.toEqual(h.readValues(h.standby));
    expect(after.detail).not.toBe('');
    // And the next plan sees the drift and wants to write again.
    expect(note(t.provider.plan(await t.provider.read(), h.standby)).changes).toBe(true);
  });

  it('an endpoint that is gone is a ProviderError that names it and says whether to retry', async () => {
    const { provider, retryable, mentions } = await h.unreachable(logger);
    printed.push(provider.label);
    const readErr = await rejection(() => provider.read());
    expect(readErr).toBeInstanceOf(ProviderError);
    expect((readErr as ProviderError).retryable).toBe(retryable);
    expect((readErr as ProviderError).message).toContain(mentions);
    printed.push(...errorTexts(readErr));

    const plan = note(provider.plan({ values: [] }, h.standby));
    const applyErr = await rejection(() => provider.apply(plan, ctx()));
    expect(applyErr).toBeInstanceOf(ProviderError);
    expect((applyErr as ProviderError).retryable).toBe(retryable);
    printed.push(...errorTexts(applyErr));
  });

  it('a wrong credential is refused, and retrying would not help', async () => {
    if (!h.wrongCredential) {
      // haproxy (socket permissions) and zonefile (file permissions) have no credential of their own.
      expect(['haproxy', 'zonefile']).toContain(kind);
      return;
    }
    const t = await newCase();
    const provider = h.wrongCredential(logger);
    printed.push(provider.label, inspect(provider, { depth: 5 }));
    try {
      await provider.read();
    } catch (err) {
      // Reads may be open (a webhook's verifyUrl); when they are guarded the refusal is as final as for writes.
      expect(err).toBeInstanceOf(ProviderError);
      expect((err as ProviderError).retryable).toBe(false);
      printed.push(...errorTexts(err));
    }
    const applyErr = await rejection(() => provider.apply(note(provider.plan({ values: [] }, h.standby)), ctx()));
    expect(applyErr).toBeInstanceOf(ProviderError);
    expect((applyErr as ProviderError).retryable).toBe(false);
    printed.push(...errorTexts(applyErr));
    // Nothing changed.
    expect(await t.observe()).toEqual(h.observed(h.primary));
  });

  it('never prints a secret: labels, plans, verify details, errors and logs', () => {
    const everything = [...printed, capture.text()].join('\n');
    expect(printed.length).toBeGreaterThan(10);
    for (const secret of h.secrets) {
      expect(secret.length).toBeGreaterThan(8);
      expect(everything).not.toContain(secret);
    }
  });
});
