import type * as CloudflareSdk from 'cloudflare';
import type { APIError } from 'cloudflare';
import { FENCING_TOKEN_HEADER } from './http-client';
import { z } from 'zod';
import type { Fields } from '../config/fields';
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
  type VerifyResult,
} from './provider';
import { lazySdk } from './lazy-sdk';
import { DNS_RECORD_TYPES, dnsRecordFields, dnsSiteIssues, type DnsRecordType } from './dns-record';

// Loaded when the first step of this kind is created (see lazy-sdk.ts).
const cloudflareSdk = lazySdk(() => require('cloudflare') as typeof CloudflareSdk);

/**
 * Cloudflare DNS through the official `cloudflare` SDK (API v4, bearer API token).
 *
 * read lists the records of `record`/`type` in the zone; plan edits one of them (PATCH) to the target content, TTL
 * and proxy flag, creates one (POST) when there is none, and deletes the rest when there were several, so the name
 * ends with exactly one record; verify lists again.
 *
 * Cloudflare has no compare-and-set on DNS records, so a fencing token cannot be checked by Cloudflare itself:
 * apply checks the controller's lease right before every write, and the lease TTL and renewal margin are what
 * keep a deposed leader from writing.
 */

export const CLOUDFLARE_DEFAULT_TTL = 60;
/** The permission the token needs, as Cloudflare's token editor names it. */
const PERMISSION = 'Zone.DNS edit (Zone → DNS → Edit)';
/** Enough for any name: Cloudflare allows at most a few hundred records of one name and type. */
const PER_PAGE = 100;
const MAX_PAGES = 20;

function schema(f: Fields) {
  return z
    .strictObject({
      kind: z.literal('cloudflare'),
      apiToken: f.secret().describe(`Cloudflare API token with ${PERMISSION} on this zone only.`),
      zoneId: f
        .nonEmpty()
        .pipe(z.string().regex(/^[0-9a-f]{32}$/, 'must be the 32-character hex zone id (dashboard → Overview → API)'))
        .describe('Zone id (32 hex characters), shown on the zone\'s Overview page.'),
      ...dnsRecordFields(f, 'Full record name, e.g. www.portal.example (a trailing dot is allowed).'),
      // Not dnsTtlField: 1 means "automatic", and the default depends on proxied.
      ttl: z
        .int()
        .min(1)
        .max(86400)
        .refine((t) => t === 1 || t >= 60, 'must be 1 (automatic) or 60–86400 seconds')
        .optional()
        .describe('TTL in seconds: 1 (automatic) or 60–86400. Default 60, or 1 when proxied.'),
      proxied: z.boolean().default(false).describe('Serve the name through Cloudflare\'s proxy (orange cloud).'),
      baseUrl: f.url().optional().describe('API base URL; only to point at a test double.'),
      timeout: f.duration(1).prefault('5s').describe('Time limit of one API request.'),
      maxRetries: z.int().min(0).max(5).default(0).describe('SDK retries within one attempt; 0 leaves retrying to controller.stepAttempts.'),
    })
    .superRefine((s, ctx) => {
      if (s.proxied && s.ttl !== undefined && s.ttl !== 1) {
        ctx.addIssue({ code: 'custom', path: ['ttl'], message: 'proxied records always have automatic TTL: write ttl: 1 or leave it out' });
      }
    })
    .transform(({ timeout, ttl, record, ...rest }) => ({
      ...rest,
      /** Lower case, without the trailing dot: the form Cloudflare's API uses. */
      record: record.toLowerCase().replace(/\.$/, ''),
      ttl: ttl ?? (rest.proxied ? 1 : CLOUDFLARE_DEFAULT_TTL),
      timeoutMs: timeout,
    }));
}

export type CloudflareStepConfig = StepOf<ReturnType<typeof schema>>;

/** One record as read: what plan needs to edit or delete it. */
export interface CloudflareRecord {
  id: string;
  content: string;
  ttl: number;
  proxied: boolean;
}

/** read()'s answer: the StepState plus the records themselves (ids for the edit). */
export interface CloudflareState extends StepState {
  records: CloudflareRecord[];
}

const recordSchema = z.object({ id: z.string(), content: z.string(), ttl: z.number(), proxied: z.boolean() });
const stateRecords = z.object({ records: z.array(recordSchema) });

interface RecordBody {
  type: DnsRecordType;
  name: string;
  content: string;
  ttl: number;
  proxied: boolean;
}

const bodySchema = z.strictObject({
  type: z.enum(DNS_RECORD_TYPES),
  name: z.string(),
  content: z.string(),
  ttl: z.number(),
  proxied: z.boolean(),
});
const operationSchema = z.discriminatedUnion('method', [
  z.strictObject({ method: z.literal('POST'), path: z.string(), body: bodySchema }),
  z.strictObject({ method: z.literal('PATCH'), path: z.string(), recordId: z.string(), body: bodySchema }),
  z.strictObject({ method: z.literal('DELETE'), path: z.string(), recordId: z.string() }),
]);
const requestSchema = z.strictObject({ zoneId: z.string(), operations: z.array(operationSchema) });
type Operation = z.infer<typeof operationSchema>;

/** The first `code` in an error's cause chain (undici puts ECONNREFUSED two levels down). */
function causeCode(err: unknown): string | undefined {
  // Duck-typed, not instanceof Error: undici's errors may come from another realm (a test VM, a worker).
  let e: unknown = err;
  for (let i = 0; i < 5 && typeof e === 'object' && e !== null; i++) {
    const { code, cause } = e as { code?: unknown; cause?: unknown };
    if (typeof code === 'string') return code;
    e = cause;
  }
  return undefined;
}

const resultInfo = z.looseObject({ total_pages: z.number().optional() });

const errorItem = z.looseObject({
  code: z.number().optional(),
  message: z.string().optional(),
  error_chain: z.array(z.looseObject({ code: z.number().optional(), message: z.string().optional() })).optional(),
});

class CloudflareProvider implements TrafficProvider {
  readonly kind = 'cloudflare';
  readonly label: string;
  /** Private (#): the client holds the token, and labels and util.inspect of the provider must not show it. */
  readonly #client: CloudflareSdk.Cloudflare;

  constructor(private readonly cfg: CloudflareStepConfig) {
    this.label = `cloudflare ${cfg.record}/${cfg.type}`;
    this.#client = new (cloudflareSdk().default)({
      apiToken: cfg.apiToken.reveal(),
      baseURL: cfg.baseUrl,
      maxRetries: cfg.maxRetries,
      timeout: cfg.timeoutMs,
      // The SDK logs to the console on its own; failures reach the controller's log as ProviderErrors instead.
      logLevel: 'off',
    });
  }

  private scrub(text: string): string {
    const token = this.cfg.apiToken.reveal();
    return (token ? text.split(token).join('[redacted]') : text).replace(/\s+/g, ' ').trim().slice(0, 300);
  }

  /** Cloudflare's error list as "[code] message" (with the error chain, where the real reason usually is). */
  private describeApiError(err: APIError): string {
    const items = z.array(errorItem).safeParse(err.errors);
    const parts = (items.success ? items.data : []).flatMap((e) => [
      `[${e.code ?? '?'}] ${e.message ?? ''}`.trim(),
      ...(e.error_chain ?? []).map((c) => `[${c.code ?? '?'}] ${c.message ?? ''}`.trim()),
    ]);
    return this.scrub(parts.length > 0 ? parts.join('; ') : err.message);
  }

  /** Every failure becomes a ProviderError that says what was tried, why it failed and whether a retry can help. */
  private failure(err: unknown, what: string, write: boolean): ProviderError {
    if (err instanceof ProviderError) return err;
    const where = `${this.label}: ${what}`;
    const { APIConnectionError, APIConnectionTimeoutError, APIError } = cloudflareSdk();
    if (err instanceof APIConnectionTimeoutError) return new ProviderError(`${where} failed: no answer within ${this.cfg.timeoutMs}ms`, true);
    if (err instanceof APIConnectionError) {
      return new ProviderError(`${where} failed: ${causeCode(err) ?? this.scrub(err.message)}`, true);
    }
    if (err instanceof APIError && typeof err.status === 'number') {
      const status = err.status;
      const detail = this.describeApiError(err);
      const codes = z.array(errorItem).safeParse(err.errors);
      const codeList = codes.success ? codes.data.map((e) => e.code) : [];
      if (status === 401) {
        return new ProviderError(`${where}: Cloudflare rejected the API token (401 ${detail}); use a valid, unexpired token with ${PERMISSION} on zone ${this.cfg.zoneId}`, false);
      }
      if (status === 403) {
        return new ProviderError(`${where}: Cloudflare refused the API token (403 ${detail}); it needs ${PERMISSION} on zone ${this.cfg.zoneId}`, false);
      }
      if (status === 404) {
        // 81044: the record was deleted between our read and this write; the next attempt re-reads and re-plans.
        if (write && codeList.includes(81044)) return new ProviderError(`${where}: the record changed since it was read (404 ${detail})`, true);
        return new ProviderError(`${where}: Cloudflare does not know zone ${this.cfg.zoneId} (404 ${detail}); check zoneId`, false);
      }
      if (status === 429) {
        const after = err.headers?.get('retry-after');
        return new ProviderError(`${where}: rate limited by Cloudflare (429 ${detail})${after ? `; retry after ${after}s` : ''}`, true);
      }
      // 408 request timeout and 409 lock timeout are Cloudflare's transient answers, as are all 5xx.
      if (status >= 500 || status === 408 || status === 409) return new ProviderError(`${where}: Cloudflare answered ${status} (${detail})`, true);
      return new ProviderError(`${where}: Cloudflare answered ${status} (${detail})`, false);
    }
    const e = err instanceof Error ? err : new Error(String(err));
    return new ProviderError(`${where} failed: ${this.scrub(e.message)}`, true);
  }

  private recordsPath(id?: string): string {
    return `/zones/${this.cfg.zoneId}/dns_records${id === undefined ? '' : `/${id}`}`;
  }

  async read(): Promise<CloudflareState> {
    const records: CloudflareRecord[] = [];
    try {
      for (let page = 1; page <= MAX_PAGES; page++) {
        const answer = await this.#client.dns.records.list({ zone_id: this.cfg.zoneId, name: { exact: this.cfg.record }, type: this.cfg.type, page, per_page: PER_PAGE });
        for (const r of answer.result) {
          // The API filters already; this keeps a loose filter (or a test double) from handing us other names.
          if (r.name.toLowerCase().replace(/\.$/, '') !== this.cfg.record || r.type !== this.cfg.type) continue;
          records.push({ id: r.id, content: r.content ?? '', ttl: r.ttl, proxied: r.proxied ?? false });
        }
        // The SDK types result_info as {page, per_page}; the API also sends total_pages.
        const info = resultInfo.safeParse(answer.result_info);
        const totalPages = info.success ? info.data.total_pages : undefined;
        if (answer.result.length < PER_PAGE || (totalPages !== undefined && page >= totalPages)) break;
      }
    } catch (err) {
      throw this.failure(err, `GET ${this.recordsPath()}?name.exact=${this.cfg.record}&type=${this.cfg.type}`, false);
    }
    const values = records.map((r) => normaliseDnsValue(this.cfg.type, r.content)).sort();
    const ttls = [...new Set(records.map((r) => r.ttl))];
    const detail =
      records.length === 0
        ? 'no such record'
        : records.map((r) => `${r.content} ttl ${r.ttl === 1 ? 'auto' : r.ttl}${r.proxied ? ' proxied' : ''}`).join(', ');
    return { values, ttl: ttls.length === 1 ? ttls[0] : undefined, detail, records };
  }

  /** The content Cloudflare stores: names without the trailing dot. */
  private contentFor(value: string): string {
    return this.cfg.type === 'CNAME' ? value.replace(/\.$/, '') : value;
  }

  private matches(r: CloudflareRecord, value: string): boolean {
    return normaliseDnsValue(this.cfg.type, r.content) === value;
  }

  plan(current: StepState, site: TargetSite): StepPlan {
    const { value, error } = dnsValueFor(this.cfg.type, site);
    if (!value) throw new ProviderError(`${this.label}: site ${site.name} ${error}`, false);
    const parsed = stateRecords.safeParse(current);
    const records = parsed.success ? parsed.data.records : [];
    const body: RecordBody = { type: this.cfg.type, name: this.cfg.record, content: this.contentFor(value), ttl: this.cfg.ttl, proxied: this.cfg.proxied };
    const exact = (r: CloudflareRecord) => this.matches(r, value) && r.ttl === this.cfg.ttl && r.proxied === this.cfg.proxied;

    // Keep the record that already has the value (or the first one) and edit it; delete every other one.
    const keep = records.find(exact) ?? records.find((r) => this.matches(r, value)) ?? records[0];
    const operations: Operation[] = [];
    if (!keep) operations.push({ method: 'POST', path: this.recordsPath(), body });
    else if (!exact(keep)) operations.push({ method: 'PATCH', path: this.recordsPath(keep.id), recordId: keep.id, body });
    for (const r of records) if (r !== keep) operations.push({ method: 'DELETE', path: this.recordsPath(r.id), recordId: r.id });

    const changes = operations.length > 0;
    const shown = `${body.content} ttl ${body.ttl === 1 ? 'auto' : body.ttl}${body.proxied ? ' proxied' : ''}`;
    const before = records.length === 0 ? 'none' : records.map((r) => r.content).join(', ');
    return {
      kind: this.kind,
      target: site.name,
      changes,
      description: changes
        ? `${operations.map((o) => o.method).join(' + ')} ${this.cfg.record} ${this.cfg.type} in zone ${this.cfg.zoneId}: [${before}] -> ${shown}`
        : `${this.cfg.record} ${this.cfg.type} already ${shown}`,
      request: { zoneId: this.cfg.zoneId, operations },
    };
  }

  async apply(plan: StepPlan, ctx: ProviderContext): Promise<void> {
    if (!plan.changes) return;
    const parsed = requestSchema.safeParse(plan.request);
    if (!parsed.success || parsed.data.zoneId !== this.cfg.zoneId) {
      throw new ProviderError(`${this.label}: the plan is not a Cloudflare plan for zone ${this.cfg.zoneId}`, false);
    }
    const zone_id = this.cfg.zoneId;
    for (const op of parsed.data.operations) {
      // No compare-and-set exists at Cloudflare: the lease is checked right before each write instead.
      await ctx.fence.assertHeld();
      try {
        // The lease's signal aborts the request and every retry the SDK would still make after it.
        const options = { signal: ctx.signal, headers: { [FENCING_TOKEN_HEADER]: String(ctx.fence.token) } };
        if (op.method === 'POST') await this.#client.dns.records.create({ zone_id, ...op.body }, options);
        else if (op.method === 'PATCH') await this.#client.dns.records.edit(op.recordId, { zone_id, ...op.body }, options);
        else await this.#client.dns.records.delete(op.recordId, { zone_id }, options);
      } catch (err) {
        throw this.failure(err, `${op.method} ${op.path}`, true);
      }
      ctx.logger.debug(`${this.label}: ${op.method} ${op.path} done`);
    }
  }

  async verify(site: TargetSite): Promise<VerifyResult> {
    const want = dnsValueFor(this.cfg.type, site).value;
    const state = await this.read();
    const [only] = state.records;
    const ok =
      state.records.length === 1 && want !== undefined && this.matches(only, want) && only.ttl === this.cfg.ttl && only.proxied === this.cfg.proxied;
    const wantShown = `${want ?? '?'} ttl ${this.cfg.ttl === 1 ? 'auto' : this.cfg.ttl}${this.cfg.proxied ? ' proxied' : ''}`;
    return {
      ok,
      observed: state.values,
      detail: ok ? `${this.cfg.record} ${this.cfg.type} is ${wantShown}` : `expected ${wantShown}, Cloudflare has [${state.records.length === 0 ? 'no record' : state.detail}]`,
    };
  }
}

export const cloudflareProvider = defineProvider({
  kind: 'cloudflare',
  schema,
  // 1 means automatic (about 300 s), so the lowest TTL that is really low is 60.
  lowestTtl: 60,
  checkSites: dnsSiteIssues,
  create: (step) => new CloudflareProvider(step),
});
