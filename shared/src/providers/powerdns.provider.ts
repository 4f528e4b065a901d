import { z } from 'zod';
import { canonicalName, type Fields } from '../config/fields';
import {
  dnsValueFor,
  normaliseDnsValue,
  ProviderError,
  type ProviderContext,
  defineProvider,
  type StepOf,
  type StepPlan,
  type StepState,
  type TargetSite,
  type TrafficProvider,
} from './provider';
import { dnsRecordFields, dnsSiteIssues, dnsTtlField, recordInZoneIssues } from './dns-record';
import { HttpRequestError, ProviderHttp, type ProviderResponse } from './http-client';

interface RRset {
  name: string;
  type: string;
  ttl?: number;
  records?: { content: string; disabled?: boolean }[];
}

function schema(f: Fields) {
  return z
    .strictObject({
      kind: z.literal('powerdns'),
      apiUrl: f.url(),
      apiKey: f.secret(),
      serverId: f.nonEmpty().default('localhost'),
      zone: f.dnsName(),
      ...dnsRecordFields(f),
      ttl: dnsTtlField({ min: 1, max: 86400, default: 30 }),
      timeout: f.duration().prefault('5s'),
    })
    .superRefine((s, ctx) => {
      for (const issue of recordInZoneIssues(canonicalName(s.record), canonicalName(s.zone), s.type)) ctx.addIssue({ code: 'custom', ...issue });
    })
    .transform(({ timeout, ...rest }) => ({ ...rest, zone: canonicalName(rest.zone), record: canonicalName(rest.record), timeoutMs: timeout }));
}

export type PowerDnsStepConfig = StepOf<ReturnType<typeof schema>>;

/** PowerDNS Authoritative HTTP API: REPLACE the RRset with PATCH, read it back with GET. */
class PowerDnsProvider implements TrafficProvider {
  readonly kind = 'powerdns';
  readonly label: string;
  private readonly zoneUrl: string;
  private readonly http: ProviderHttp;

  constructor(private readonly cfg: PowerDnsStepConfig) {
    this.label = `powerdns ${cfg.record}/${cfg.type}`;
    const base = cfg.apiUrl.replace(/\/+$/, '');
    this.zoneUrl = `${base}/api/v1/servers/${encodeURIComponent(cfg.serverId)}/zones/${encodeURIComponent(cfg.zone)}`;
    this.http = new ProviderHttp({ timeoutMs: cfg.timeoutMs, headers: { 'X-API-Key': cfg.apiKey.reveal() } });
  }

  private async call(method: 'GET' | 'PATCH', body?: unknown, ctx?: ProviderContext): Promise<{ status: number; text: string }> {
    let res: ProviderResponse;
    try {
      res = await this.http.request({
        method,
        url: this.zoneUrl,
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: ctx?.signal,
        fencingToken: ctx?.fence.token,
      });
    } catch (err) {
      const why = err instanceof HttpRequestError ? err.message : this.http.scrub(String(err));
      throw new ProviderError(`${this.label}: ${method} zone ${this.cfg.zone} failed: ${why}`, true);
    }
    const text = res.text;
    if (res.status >= 400) {
      let msg = text.slice(0, 300);
      try {
        msg = (JSON.parse(text) as { error?: string }).error ?? msg;
      } catch {
        /* not JSON: keep the raw snippet */
      }
      // 4xx (bad key, unknown zone, bad record) will not fix itself; 5xx and 429 may.
      const retryable = res.status >= 500 || res.status === 429;
      throw new ProviderError(`${this.label}: PowerDNS answered ${res.status} to ${method}: ${this.http.scrub(msg)}`, retryable);
    }
    return { status: res.status, text };
  }

  async read(): Promise<StepState> {
    const { text } = await this.call('GET');
    let zone: { rrsets?: RRset[] };
    try {
      zone = JSON.parse(text) as { rrsets?: RRset[] };
    } catch {
      throw new ProviderError(`${this.label}: PowerDNS zone answer is not JSON`, true);
    }
    if (!Array.isArray(zone.rrsets)) throw new ProviderError(`${this.label}: PowerDNS zone answer has no rrsets`, true);
    const rrset = zone.rrsets.find((r) => canonicalName(r.name) === this.cfg.record && r.type === this.cfg.type);
    const values = (rrset?.records ?? [])
      .filter((r) => !r.disabled)
      .map((r) => normaliseDnsValue(this.cfg.type, r.content))
      .sort();
    return { values, ttl: rrset?.ttl, detail: rrset ? `ttl ${rrset.ttl ?? '?'}` : 'no such rrset' };
  }

  plan(current: StepState, site: TargetSite): StepPlan {
    const { value, error } = dnsValueFor(this.cfg.type, site);
    if (!value) throw new ProviderError(`${this.label}: site ${site.name} ${error}`, false);
    const changes = !(current.values.length === 1 && current.values[0] === value && (current.ttl === undefined || current.ttl === this.cfg.ttl));
    const rrset = {
      name: this.cfg.record,
      type: this.cfg.type,
      ttl: this.cfg.ttl,
      changetype: 'REPLACE',
      records: [{ content: value, disabled: false }],
    };
    return {
      kind: this.kind,
      target: site.name,
      changes,
      description: changes
        ? `PATCH ${this.cfg.zone}: REPLACE ${this.cfg.record} ${this.cfg.type} [${current.values.join(', ')}] -> ${value}`
        : `${this.cfg.record} ${this.cfg.type} already ${value}`,
      request: { method: 'PATCH', url: this.zoneUrl, body: { rrsets: [rrset] } },
    };
  }

  async apply(plan: StepPlan, ctx: ProviderContext): Promise<void> {
    if (!plan.changes) return;
    await ctx.fence.assertHeld();
    await this.call('PATCH', plan.request.body, ctx);
  }

  async verify(site: TargetSite) {
    const want = dnsValueFor(this.cfg.type, site).value;
    const { values } = await this.read();
    const ok = values.length === 1 && values[0] === want;
    return { ok, observed: values, detail: ok ? `${this.cfg.record} ${this.cfg.type} is ${want}` : `expected ${want}, PowerDNS has [${values.join(', ')}]` };
  }
}

export const powerdnsProvider = defineProvider({
  kind: 'powerdns',
  schema,
  checkSites: dnsSiteIssues,
  create: (step) => new PowerDnsProvider(step),
});
