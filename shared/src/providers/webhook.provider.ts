import { createHmac } from 'node:crypto';
import { z } from 'zod';
import type { Fields } from '../config/fields';
import {
  ProviderError,
  type ProviderContext,
  defineProvider,
  type StepOf,
  type SiteRouting,
  type StepPlan,
  type StepState,
  type TargetSite,
  type TrafficProvider,
  type VerifyResult,
} from './provider';
import { HttpRequestError, ProviderHttp } from './http-client';

/**
 * Tells another system about the switch: POST {portal, from?, to, routing, operationId?, at} as JSON to `url`,
 * signed with `X-Portal-Failover-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes, keyed with secret>`.
 * A 2xx answer means the receiver applied it. With `verifyUrl`, read/verify GET it and expect
 * `{"site": "<name>"}` (or `{"active": "<name>"}`); without it the receiver's state cannot be read, so read()
 * reports it unknown (every plan is a change) and verify() can only vouch for the 2xx it got in this process.
 *
 * Receivers should compare the signature in constant time and reject bodies whose `at` is old, which makes a
 * captured request useless for a replay.
 */

export const SIGNATURE_HEADER = 'X-Portal-Failover-Signature';

/** What apply() adds when the context carries the running operation; ProviderContext itself does not require it. */
interface OperationFacts {
  id?: string;
  portal?: string;
  from?: string;
}

const operationFacts = z.looseObject({ id: z.string().optional(), portal: z.string().optional(), from: z.string().optional() });

function operationOf(ctx: ProviderContext): OperationFacts | undefined {
  const parsed = operationFacts.safeParse(ctx.operation);
  return parsed.success ? parsed.data : undefined;
}

/** The URL as shown in labels, plans and errors: user:password@ and query values may be credentials. */
export function displayUrl(text: string): string {
  const u = new URL(text);
  const auth = u.username || u.password ? '[redacted]@' : '';
  const query = [...u.searchParams.keys()].map((k) => `${k}=[redacted]`).join('&');
  return `${u.protocol}//${auth}${u.host}${u.pathname}${query ? `?${query}` : ''}`;
}

function splitCredentials(text: string): { bare: string; authorization?: string } {
  const u = new URL(text);
  if (!u.username && !u.password) return { bare: text };
  const user = decodeURIComponent(u.username);
  const password = decodeURIComponent(u.password);
  u.username = '';
  u.password = '';
  return { bare: u.toString(), authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` };
}

export function signBody(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

function schema(f: Fields) {
  return z
    .strictObject({
      kind: z.literal('webhook'),
      url: f.url().describe('Receiver of the signed POST; a 2xx answer means the switch was applied.'),
      secret: f.secret().describe('HMAC-SHA256 key of the X-Portal-Failover-Signature header.'),
      timeout: f.duration(1).prefault('5s').describe('Time limit of one request.'),
      verifyUrl: f.url().optional().describe('GET it to read the active site: JSON {"site": "<name>"} or {"active": "<name>"}.'),
      // Traffic steps are built without knowing their portal (create() gets only the step), so the receiver's most
      // important field has to be stated here; an executor that passes the running operation (see OperationFacts)
      // has it checked against the operation's portal.
      portal: f.nonEmpty().describe('Portal id written into the payload (repeat the portal\'s id).'),
    })
    .transform(({ timeout, ...rest }) => ({ ...rest, timeoutMs: timeout }));
}

export type WebhookStepConfig = StepOf<ReturnType<typeof schema>>;

const routingSchema = z.strictObject({ address: z.string().optional(), target: z.string().optional() });
const bodySchema = z.strictObject({ portal: z.string(), from: z.string().optional(), to: z.string(), routing: routingSchema });
const requestSchema = z.strictObject({
  method: z.literal('POST'),
  url: z.string(),
  headers: z.record(z.string(), z.string()),
  body: bodySchema,
  addedWhenSent: z.array(z.string()),
});
type WebhookBody = z.infer<typeof bodySchema>;

const stateAnswer = z
  .looseObject({ site: z.string().min(1).optional(), active: z.string().min(1).optional() })
  .refine((a) => a.site !== undefined || a.active !== undefined);

function causeOf(err: unknown, timeoutMs: number): string {
  if (err instanceof HttpRequestError) return err.timedOut ? `no answer within ${timeoutMs}ms (or the lease deadline)` : err.message;
  return err instanceof Error ? err.message : String(err);
}

class WebhookProvider implements TrafficProvider {
  readonly kind = 'webhook';
  readonly label: string;
  private readonly shownUrl: string;
  private readonly shownVerifyUrl?: string;
  /** The last 2xx POST in this process: the only evidence verify() has when there is no verifyUrl. */
  private accepted?: { site: string; at: string; status: number };
  private readonly http: ProviderHttp;

  constructor(private readonly cfg: WebhookStepConfig) {
    this.shownUrl = displayUrl(cfg.url);
    this.shownVerifyUrl = cfg.verifyUrl ? displayUrl(cfg.verifyUrl) : undefined;
    this.label = `webhook ${this.shownUrl}`;
    this.http = new ProviderHttp({ timeoutMs: cfg.timeoutMs, secrets: [cfg.secret.reveal()] });
  }

  /** Answer snippets go into errors; a receiver that echoes what it got must not make us print the secret. */
  private scrub(text: string): string {
    const secret = this.cfg.secret.reveal();
    return (secret ? text.split(secret).join('[redacted]') : text).replace(/\s+/g, ' ').trim().slice(0, 200);
  }

  private async request(method: 'GET' | 'POST', url: string, shown: string, init: { headers: Record<string, string>; body?: string }, ctx?: ProviderContext): Promise<{ status: number; text: string; location: string | null }> {
    // URLs with user:password@ become a Basic Authorization header, so the credentials never sit in a logged URL.
    const { bare, authorization } = splitCredentials(url);
    const headers = authorization ? { ...init.headers, Authorization: authorization } : init.headers;
    try {
      // No redirects (ProviderHttp): following one would re-send the signed body to a place nobody configured.
      const res = await this.http.request({ method, url: bare, headers, body: init.body, signal: ctx?.signal, fencingToken: ctx?.fence.token });
      return { status: res.status, text: res.text, location: res.location ?? null };
    } catch (err) {
      // Messages can quote the URL; only the shown form may appear.
      const why = this.scrub([url, bare].reduce((t, u) => t.split(u).join(shown), causeOf(err, this.cfg.timeoutMs)));
      throw new ProviderError(`${this.label}: ${method} ${shown} failed: ${why}`, true);
    }
  }

  private statusError(method: string, shown: string, status: number, text: string, location: string | null): ProviderError {
    if (status >= 300 && status < 400) {
      return new ProviderError(`${this.label}: ${method} ${shown} was redirected (${status}${location ? ` to ${displayUrlSafe(location)}` : ''}); configure the final URL`, false);
    }
    // Overload and server errors may pass; other 4xx (bad signature, unknown portal) need someone to fix config.
    const retryable = status >= 500 || status === 408 || status === 425 || status === 429;
    const snippet = this.scrub(text);
    return new ProviderError(`${this.label}: ${method} ${shown} answered ${status}${snippet ? `: ${snippet}` : ''}`, retryable);
  }

  async read(): Promise<StepState> {
    if (!this.cfg.verifyUrl || !this.shownVerifyUrl) return { values: [], detail: 'no verifyUrl: the receiver\'s state is unknown' };
    const shown = this.shownVerifyUrl;
    const { status, text, location } = await this.request('GET', this.cfg.verifyUrl, shown, { headers: { Accept: 'application/json' } });
    if (status < 200 || status >= 300) throw this.statusError('GET', shown, status, text, location);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new ProviderError(`${this.label}: GET ${shown} did not answer JSON`, false);
    }
    const parsed = stateAnswer.safeParse(json);
    if (!parsed.success) throw new ProviderError(`${this.label}: GET ${shown} answered JSON without a "site" or "active" string`, false);
    const site = parsed.data.site ?? parsed.data.active ?? '';
    return { values: [site], detail: `${shown} says ${site}` };
  }

  plan(current: StepState, site: TargetSite): StepPlan {
    const routing: SiteRouting = {};
    if (site.routing.address !== undefined) routing.address = site.routing.address;
    if (site.routing.target !== undefined) routing.target = site.routing.target;
    const from = current.values.length === 1 && current.values[0] !== site.name ? current.values[0] : undefined;
    const body: WebhookBody = { portal: this.cfg.portal, ...(from ? { from } : {}), to: site.name, routing };
    // Without verifyUrl nothing says the receiver already has it, so the POST is always sent.
    const changes = !(current.values.length === 1 && current.values[0] === site.name);
    return {
      kind: this.kind,
      target: site.name,
      changes,
      description: changes
        ? `POST ${this.shownUrl}: ${from ?? (this.cfg.verifyUrl ? 'unknown' : 'state unknown, no verifyUrl')} -> ${site.name}, signed with ${SIGNATURE_HEADER}`
        : `${this.shownVerifyUrl ?? this.shownUrl} already says ${site.name}`,
      request: {
        method: 'POST',
        url: this.shownUrl,
        headers: { 'Content-Type': 'application/json', [SIGNATURE_HEADER]: 'sha256=<hex HMAC-SHA256 of the body as sent>' },
        body,
        addedWhenSent: ['operationId', 'fence', 'at'],
      },
    };
  }

  private parseRequest(plan: StepPlan): WebhookBody {
    const parsed = requestSchema.safeParse(plan.request);
    if (plan.kind !== this.kind || !parsed.success) throw new ProviderError(`${this.label}: not a webhook plan`, false);
    if (parsed.data.url !== this.shownUrl || parsed.data.body.portal !== this.cfg.portal) {
      throw new ProviderError(`${this.label}: plan is for ${parsed.data.url} portal ${parsed.data.body.portal}, not this step`, false);
    }
    return parsed.data.body;
  }

  async apply(plan: StepPlan, ctx: ProviderContext): Promise<void> {
    if (!plan.changes) return;
    const planned = this.parseRequest(plan);
    const op = operationOf(ctx);
    if (op?.portal !== undefined && op.portal !== this.cfg.portal) {
      throw new ProviderError(`${this.label}: step says portal ${this.cfg.portal} but runs in portal ${op.portal}; fix the step's portal field`, false);
    }
    const from = planned.from ?? (op?.from !== undefined && op.from !== planned.to ? op.from : undefined);
    // The fencing token is inside the signed body, so a receiver can refuse a write older than one it accepted.
    const body = { ...planned, ...(from ? { from } : {}), ...(op?.id ? { operationId: op.id } : {}), fence: ctx.fence.token, at: new Date().toISOString() };
    const text = JSON.stringify(body);
    await ctx.fence.assertHeld();
    const res = await this.request('POST', this.cfg.url, this.shownUrl, {
      headers: { 'Content-Type': 'application/json', 'User-Agent': 'portal-failover', [SIGNATURE_HEADER]: signBody(text, this.cfg.secret.reveal()) },
      body: text,
    }, ctx);
    if (res.status < 200 || res.status >= 300) throw this.statusError('POST', this.shownUrl, res.status, res.text, res.location);
    this.accepted = { site: planned.to, at: body.at, status: res.status };
    ctx.logger.info('webhook accepted the switch', { url: this.shownUrl, status: res.status, to: planned.to, from: body.from });
  }

  async verify(site: TargetSite): Promise<VerifyResult> {
    if (this.cfg.verifyUrl) {
      const { values, detail } = await this.read();
      const ok = values.length === 1 && values[0] === site.name;
      return { ok, observed: values, detail: ok ? detail ?? `receiver says ${site.name}` : `expected ${site.name}, ${detail ?? 'receiver says something else'}` };
    }
    const a = this.accepted;
    if (a && a.site === site.name) {
      return { ok: true, observed: [], detail: `no verifyUrl: trusting the receiver's ${a.status} to the POST for ${site.name} at ${a.at} (not read back)` };
    }
    return { ok: false, observed: [], detail: `no verifyUrl, and no POST for ${site.name} was accepted by this process` };
  }
}

/** displayUrl for a Location header, which may be relative or garbage. */
function displayUrlSafe(location: string): string {
  try {
    return displayUrl(location);
  } catch {
    return '(relative location)';
  }
}

export const webhookProvider = defineProvider({
  kind: 'webhook',
  schema,
  // The receiver maps site names itself; every site can be announced.
  checkSites: () => [],
  create: (step) => new WebhookProvider(step),
});
