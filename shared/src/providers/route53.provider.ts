// Over 350 lines on purpose: the record write, its compare-and-set on the epoch record (fencing) and the INSYNC wait
// are one ChangeResourceRecordSets protocol; plan, apply and verify each need all three, so they stay in one class.
import type * as Route53Sdk from '@aws-sdk/client-route-53';
import type { Change, ResourceRecordSet, Route53Client } from '@aws-sdk/client-route-53';
import { z } from 'zod';
import { EPOCH_PREFIX, EPOCH_TTL, epochRecordName, tokenOfText } from './epoch';
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
  type VerifyResult,
  requestSignal,
} from './provider';
import { lazySdk } from './lazy-sdk';
import { dnsRecordFields, dnsSiteIssues, dnsTtlField, MAX_DNS_TTL, type DnsRecordType } from './dns-record';

// Loaded when the first step of this kind is created (see lazy-sdk.ts).
const route53Sdk = lazySdk(() => require('@aws-sdk/client-route-53') as typeof Route53Sdk);

/**
 * AWS Route 53 through `@aws-sdk/client-route-53`, with credentials from the standard AWS chain (environment,
 * shared config/credentials files and profiles, SSO, web identity, ECS/EC2 instance roles).
 *
 * read lists the record set (ListResourceRecordSets from StartRecordName/StartRecordType); apply sends one
 * ChangeResourceRecordSets batch that UPSERTs it, then polls GetChange every `syncPoll` until the change is
 * INSYNC (the SDK's own waiter starts at 30 s, far too slow for a failover), bounded by `syncTimeout`; verify
 * reads it back.
 *
 * Fencing (`fencing: true`, the default): Route 53 applies a batch all or nothing, and a DELETE must match the
 * current TTL and values exactly. So the batch also carries a compare-and-set on an epoch TXT record
 * `_pf-epoch.<record>` holding the fencing token of the last leader that wrote: DELETE the epoch exactly as read +
 * CREATE it with this leader's token (only when that token is not older) + UPSERT the record. A deposed leader
 * whose token is older than the epoch refuses before sending; one that read before its successor wrote sends a
 * DELETE that no longer matches, and Route 53 refuses the whole batch: nothing changes.
 */

export { EPOCH_PREFIX, EPOCH_TTL, epochRecordName } from './epoch';
/** Stands for the fencing token in a plan: plan() does not know it, apply() writes ctx.fence.token there. */
export const FENCE_TOKEN_PLACEHOLDER = '"<fence token>"';
/** The IAM actions this provider calls, named in every access-denied error. */
export const ROUTE53_ACTIONS = ['route53:ChangeResourceRecordSets', 'route53:GetChange', 'route53:ListResourceRecordSets'];
/** GetChange is limited to 5 requests per second per account: throttled polls back off up to this. */
const MAX_POLL_MS = 2000;

function schema(f: Fields) {
  return z
    .strictObject({
      kind: z.literal('route53'),
      hostedZoneId: f
        .nonEmpty()
        .transform((id) => id.replace(/^\/?hostedzone\//, ''))
        .pipe(z.string().regex(/^[A-Z0-9]{1,32}$/, 'must be a hosted zone id such as Z0123456789ABCDEFGHIJ'))
        .describe('Hosted zone id, e.g. Z0123456789ABCDEFGHIJ (a /hostedzone/ prefix is accepted).'),
      ...dnsRecordFields(f, 'Full record name, e.g. www.portal.example. (the trailing dot is optional).'),
      ttl: dnsTtlField({ min: 0, max: MAX_DNS_TTL, default: 60 }),
      region: f.nonEmpty().default('us-east-1').describe('AWS region for signing; Route 53 is global and signs in us-east-1.'),
      endpoint: f.url().optional().describe('API endpoint; only to point at a test double.'),
      fencing: z
        .boolean()
        .default(true)
        .describe(`Compare-and-set the fencing token on a TXT record ${EPOCH_PREFIX}<record> in the same all-or-nothing change batch.`),
      timeout: f.duration(1).prefault('5s').describe('Time limit of one API request.'),
      syncTimeout: f.duration(1).prefault('2m').describe('How long to wait for the change to become INSYNC.'),
      syncPoll: f.duration(50).prefault('250ms').describe('Time between two GetChange calls while the change is PENDING.'),
    })
    .transform(({ timeout, syncTimeout, syncPoll, record, ...rest }) => ({
      ...rest,
      record: canonicalName(record),
      timeoutMs: timeout,
      syncTimeoutMs: syncTimeout,
      syncPollMs: syncPoll,
    }));
}

export type Route53StepConfig = StepOf<ReturnType<typeof schema>>;

/** A record set as read, exactly (a DELETE must repeat TTL and values as Route 53 has them). */
export interface Route53RecordSet {
  ttl: number;
  values: string[];
}

/** read()'s answer: the StepState plus the epoch TXT record (null: none; absent: not read). */
export interface Route53State extends StepState {
  epoch?: Route53RecordSet | null;
}

const recordSetSchema = z.object({ ttl: z.number(), values: z.array(z.string()) });
const stateEpoch = z.object({ epoch: recordSetSchema.nullable() });

const changeSchema = z.strictObject({
  Action: z.enum(['CREATE', 'DELETE', 'UPSERT']),
  ResourceRecordSet: z.strictObject({
    Name: z.string(),
    Type: z.enum(['A', 'AAAA', 'CNAME', 'TXT']),
    TTL: z.number(),
    ResourceRecords: z.array(z.strictObject({ Value: z.string() })),
  }),
});
const requestSchema = z.strictObject({
  hostedZoneId: z.string(),
  changeBatch: z.strictObject({ Comment: z.string(), Changes: z.array(changeSchema) }),
  fence: z.strictObject({ record: z.string(), current: z.number().nullable(), tokenAt: z.string() }).optional(),
});
type PlannedChange = z.infer<typeof changeSchema>;

/** Route 53 escapes some characters in names as \DDD (octal): `\052` is `*`. */
function unescapeName(name: string): string {
  return canonicalName(name.replace(/\\(\d{3})/g, (_all, oct: string) => String.fromCharCode(parseInt(oct, 8))));
}

/** The token an epoch TXT value carries: `"12"` -> 12; anything else is not ours. */
export function epochToken(values: string[]): number | undefined {
  if (values.length !== 1) return undefined;
  // Route 53 spells TXT values quoted.
  const m = /^"(.*)"$/.exec(values[0]);
  return m ? tokenOfText(m[1]) : undefined;
}

interface AwsErrorLike {
  name: string;
  message: string;
  status?: number;
  fault?: string;
  code?: string;
  messages?: string[];
}

function awsError(err: unknown): AwsErrorLike {
  // Duck-typed, not instanceof Error: Node's network errors may come from another realm (a test VM, a worker).
  const e = (typeof err === 'object' && err !== null ? err : { message: String(err) }) as {
    name?: unknown;
    message?: unknown;
    $metadata?: { httpStatusCode?: number };
    $fault?: string;
    code?: unknown;
    messages?: unknown;
    cause?: unknown;
  };
  let code = typeof e.code === 'string' ? e.code : undefined;
  if (!code && typeof e.cause === 'object' && e.cause !== null) {
    const c = (e.cause as { code?: unknown }).code;
    if (typeof c === 'string') code = c;
  }
  const messages = Array.isArray(e.messages) ? e.messages.filter((m): m is string => typeof m === 'string') : undefined;
  return {
    name: typeof e.name === 'string' ? e.name : 'Error',
    message: typeof e.message === 'string' ? e.message : String(err),
    status: e.$metadata?.httpStatusCode,
    fault: e.$fault,
    code,
    messages,
  };
}

const RETRYABLE_CODES = new Set(['Throttling', 'ThrottlingException', 'PriorRequestNotComplete', 'RequestTimeout', 'RequestTimeoutException', 'ServiceUnavailable', 'InternalFailure', 'InternalError']);
const CREDENTIAL_CODES = new Set(['InvalidClientTokenId', 'SignatureDoesNotMatch', 'UnrecognizedClientException', 'ExpiredToken', 'ExpiredTokenException', 'MissingAuthenticationToken', 'IncompleteSignature', 'InvalidSignature', 'InvalidSignatureException', 'AuthFailure']);

class Route53Provider implements TrafficProvider {
  readonly kind = 'route53';
  readonly label: string;
  private readonly epochName: string;
  /** Private (#): the client holds the credential provider, which util.inspect of the provider must not reach. */
  readonly #client: Route53Client;
  /** A change this process submitted and has not yet seen INSYNC; verify waits for it. */
  #unsynced?: string;

  constructor(private readonly cfg: Route53StepConfig) {
    this.label = `route53 ${cfg.record}/${cfg.type}`;
    this.epochName = epochRecordName(cfg.record);
    this.#client = new (route53Sdk().Route53Client)({
      region: cfg.region,
      endpoint: cfg.endpoint,
      // The controller retries (stepAttempts, stepBackoff) after re-reading; SDK retries would hide that.
      maxAttempts: 1,
    });
  }

  private failure(err: unknown, action: string, context: { fencedBatch?: boolean } = {}): ProviderError {
    if (err instanceof ProviderError) return err;
    const e = awsError(err);
    const where = `${this.label}: ${action} on hostedzone/${this.cfg.hostedZoneId}`;
    const msg = e.message.replace(/\s+/g, ' ').trim().slice(0, 400);
    if (e.name === 'AbortError' || e.name === 'TimeoutError') return new ProviderError(`${where} failed: no answer within ${this.cfg.timeoutMs}ms`, true);
    if (e.name === 'CredentialsProviderError') {
      return new ProviderError(`${where}: no AWS credentials found in the standard chain (environment, shared files, SSO, instance role): ${msg}`, false);
    }
    if (e.name === 'InvalidChangeBatch') {
      const text = (e.messages && e.messages.length > 0 ? e.messages.join('; ') : msg).slice(0, 400);
      if (context.fencedBatch && text.toLowerCase().includes(this.epochName.replace(/\.$/, '').toLowerCase())) {
        return new ProviderError(
          `${where}: fencing compare-and-set failed, lease lost: the epoch record ${this.epochName} changed since it was read, so a controller with a newer fencing token has written; Route 53 refused the whole batch and nothing was changed (${text})`,
          false,
        );
      }
      return new ProviderError(`${where}: Route 53 refused the change batch (InvalidChangeBatch: ${text})`, false);
    }
    if (e.name === 'NoSuchHostedZone') return new ProviderError(`${where}: no such hosted zone (NoSuchHostedZone: ${msg}); check hostedZoneId`, false);
    if (e.name === 'AccessDenied' || e.name === 'AccessDeniedException' || e.status === 403 && !CREDENTIAL_CODES.has(e.name)) {
      return new ProviderError(`${where}: access denied (${e.name}: ${msg}); the credentials need ${ROUTE53_ACTIONS.join(', ')} on hostedzone/${this.cfg.hostedZoneId}`, false);
    }
    if (CREDENTIAL_CODES.has(e.name)) return new ProviderError(`${where}: AWS rejected the credentials (${e.name}: ${msg})`, false);
    if (RETRYABLE_CODES.has(e.name)) return new ProviderError(`${where}: ${e.name}: ${msg}`, true);
    if (e.status === undefined) {
      // No HTTP answer at all: a network failure (refused, reset, DNS).
      return new ProviderError(`${where} failed: ${e.code ?? msg}`, true);
    }
    const retryable = e.fault === 'server' || e.status >= 500 || e.status === 429;
    return new ProviderError(`${where}: Route 53 answered ${e.status} (${e.name}: ${msg})`, retryable);
  }

  private signal(): AbortSignal {
    return AbortSignal.timeout(this.cfg.timeoutMs);
  }

  /** The record set name/type exactly, or null; routing-policy sets (SetIdentifier) are not ours to write. */
  private async readSet(name: string, type: 'A' | 'AAAA' | 'CNAME' | 'TXT'): Promise<{ set: Route53RecordSet | null; alias?: string }> {
    let sets: ResourceRecordSet[];
    try {
      const out = await this.#client.send(
        new (route53Sdk().ListResourceRecordSetsCommand)({ HostedZoneId: this.cfg.hostedZoneId, StartRecordName: name, StartRecordType: type, MaxItems: 5 }),
        { abortSignal: this.signal() },
      );
      sets = out.ResourceRecordSets ?? [];
    } catch (err) {
      throw this.failure(err, `ListResourceRecordSets ${name} ${type}`);
    }
    const mine = sets.filter((s) => unescapeName(s.Name ?? '') === name && s.Type === type);
    if (mine.some((s) => s.SetIdentifier !== undefined)) {
      throw new ProviderError(`${this.label}: ${name} ${type} uses a routing policy (SetIdentifier ${mine[0].SetIdentifier}); this step writes simple records only`, false);
    }
    const [found] = mine;
    if (!found) return { set: null };
    if (found.AliasTarget) return { set: { ttl: 0, values: [] }, alias: found.AliasTarget.DNSName };
    return { set: { ttl: found.TTL ?? 0, values: (found.ResourceRecords ?? []).map((r) => r.Value ?? '') } };
  }

  async read(): Promise<Route53State> {
    // Both at once; a failure is reported for the record first, so the same fault always gives the same error.
    const [recordRead, epochRead] = await Promise.allSettled([
      this.readSet(this.cfg.record, this.cfg.type),
      this.cfg.fencing ? this.readSet(this.epochName, 'TXT') : Promise.resolve(undefined),
    ]);
    if (recordRead.status === 'rejected') throw recordRead.reason;
    if (epochRead.status === 'rejected') throw epochRead.reason;
    const record = recordRead.value;
    const epoch = epochRead.value;
    const set = record.set;
    const values = (set?.values ?? []).map((v) => normaliseDnsValue(this.cfg.type, v)).sort();
    const parts = [set === null ? 'no such record set' : record.alias ? `alias to ${record.alias}` : `ttl ${set.ttl}`];
    if (epoch) parts.push(epoch.set ? `epoch ${epoch.set.values.join(' ')}` : 'no epoch yet');
    const state: Route53State = { values, ttl: set && !record.alias ? set.ttl : undefined, detail: parts.join(', ') };
    if (epoch) state.epoch = epoch.set;
    return state;
  }

  plan(current: StepState, site: TargetSite): StepPlan {
    const { value, error } = dnsValueFor(this.cfg.type, site);
    if (!value) throw new ProviderError(`${this.label}: site ${site.name} ${error}`, false);
    const changes = !(current.values.length === 1 && current.values[0] === value && (current.ttl === undefined || current.ttl === this.cfg.ttl));
    const batch: PlannedChange[] = [];
    let fence: { record: string; current: number | null; tokenAt: string } | undefined;
    let epochText = '';
    if (this.cfg.fencing) {
      const parsed = stateEpoch.safeParse(current);
      // Not read (a state built by hand): assume no epoch yet; if one exists the CREATE fails and nothing changes.
      const epoch = parsed.success ? parsed.data.epoch : null;
      if (epoch) {
        batch.push({ Action: 'DELETE', ResourceRecordSet: { Name: this.epochName, Type: 'TXT', TTL: epoch.ttl, ResourceRecords: epoch.values.map((v) => ({ Value: v })) } });
      }
      batch.push({ Action: 'CREATE', ResourceRecordSet: { Name: this.epochName, Type: 'TXT', TTL: EPOCH_TTL, ResourceRecords: [{ Value: FENCE_TOKEN_PLACEHOLDER }] } });
      const token = epoch ? (epochToken(epoch.values) ?? null) : null;
      fence = { record: this.epochName, current: token, tokenAt: 'changeBatch.Changes[].ResourceRecordSet.ResourceRecords[].Value' };
      epochText = `; epoch ${this.epochName} TXT ${epoch ? epoch.values.join(' ') : 'none'} -> fence token`;
    }
    batch.push({ Action: 'UPSERT', ResourceRecordSet: { Name: this.cfg.record, Type: this.cfg.type, TTL: this.cfg.ttl, ResourceRecords: [{ Value: value }] } });
    const request: Record<string, unknown> = {
      hostedZoneId: this.cfg.hostedZoneId,
      changeBatch: { Comment: `portal-failover: ${this.cfg.record} ${this.cfg.type} -> site ${site.name}`, Changes: batch },
    };
    if (fence) request.fence = fence;
    return {
      kind: this.kind,
      target: site.name,
      changes,
      description: changes
        ? `ChangeResourceRecordSets hostedzone/${this.cfg.hostedZoneId}: UPSERT ${this.cfg.record} ${this.cfg.type} [${current.values.join(', ')}] -> ${value} ttl ${this.cfg.ttl}${epochText}`
        : `${this.cfg.record} ${this.cfg.type} already ${value}`,
      request,
    };
  }

  async apply(plan: StepPlan, ctx: ProviderContext): Promise<void> {
    if (!plan.changes) return;
    const parsed = requestSchema.safeParse(plan.request);
    if (!parsed.success || parsed.data.hostedZoneId !== this.cfg.hostedZoneId) {
      throw new ProviderError(`${this.label}: the plan is not a Route 53 plan for hostedzone/${this.cfg.hostedZoneId}`, false);
    }
    const { changeBatch, fence } = parsed.data;
    await ctx.fence.assertHeld();
    const token = ctx.fence.token;
    if (fence && fence.current !== null && token < fence.current) {
      throw new ProviderError(
        `${this.label}: lease lost: ${fence.record} holds fencing token ${fence.current}, newer than ours (${token}); a newer leader has written this record, so nothing was sent`,
        false,
      );
    }
    const Changes: Change[] = changeBatch.Changes.map((c) => ({
      Action: c.Action,
      ResourceRecordSet: {
        ...c.ResourceRecordSet,
        ResourceRecords: c.ResourceRecordSet.ResourceRecords.map((r) => ({ Value: r.Value === FENCE_TOKEN_PLACEHOLDER ? `"${token}"` : r.Value })),
      },
    }));
    let changeId: string | undefined;
    let status: string | undefined;
    try {
      const out = await this.#client.send(
        new (route53Sdk().ChangeResourceRecordSetsCommand)({ HostedZoneId: this.cfg.hostedZoneId, ChangeBatch: { Comment: changeBatch.Comment, Changes } }),
        { abortSignal: requestSignal(this.cfg.timeoutMs, ctx) },
      );
      changeId = out.ChangeInfo?.Id;
      status = out.ChangeInfo?.Status;
    } catch (err) {
      throw this.failure(err, 'ChangeResourceRecordSets', { fencedBatch: fence !== undefined });
    }
    if (!changeId) throw new ProviderError(`${this.label}: ChangeResourceRecordSets answered without a change id`, true);
    ctx.logger.info(`${this.label}: change ${changeId} submitted (${status ?? 'unknown status'}), waiting for INSYNC`);
    if (status === 'INSYNC') return;
    this.#unsynced = changeId;
    const result = await this.waitInSync(changeId);
    if (!result.insync) throw new ProviderError(`${this.label}: change ${changeId} was accepted but ${result.detail}`, true);
    ctx.logger.info(`${this.label}: change ${changeId} INSYNC after ${result.waitedMs}ms`);
  }

  /** Polls GetChange until INSYNC, every syncPoll (longer after throttling), for at most syncTimeout. */
  private async waitInSync(changeId: string): Promise<{ insync: boolean; waitedMs: number; detail: string }> {
    const started = Date.now();
    let interval = this.cfg.syncPollMs;
    let last = 'PENDING';
    for (;;) {
      try {
        const out = await this.#client.send(new (route53Sdk().GetChangeCommand)({ Id: changeId }), { abortSignal: this.signal() });
        last = out.ChangeInfo?.Status ?? 'unknown';
        if (last === 'INSYNC') {
          if (this.#unsynced === changeId) this.#unsynced = undefined;
          return { insync: true, waitedMs: Date.now() - started, detail: 'INSYNC' };
        }
        interval = this.cfg.syncPollMs;
      } catch (err) {
        const failure = this.failure(err, `GetChange ${changeId}`);
        if (!failure.retryable) throw new ProviderError(`${failure.message} (the change was submitted; it may still apply)`, false);
        // Throttled or a blip: slow down and keep waiting within the same bound.
        last = `unconfirmed (${failure.message})`;
        interval = Math.min(interval * 2, MAX_POLL_MS);
      }
      const waited = Date.now() - started;
      if (waited >= this.cfg.syncTimeoutMs) return { insync: false, waitedMs: waited, detail: `is still ${last} after ${waited}ms (syncTimeout ${this.cfg.syncTimeoutMs}ms)` };
      await new Promise<void>((r) => setTimeout(r, Math.min(interval, this.cfg.syncTimeoutMs - waited)));
    }
  }

  async verify(site: TargetSite): Promise<VerifyResult> {
    const want = dnsValueFor(this.cfg.type, site).value;
    let synced = '';
    if (this.#unsynced) {
      const pending = this.#unsynced;
      const result = await this.waitInSync(pending);
      if (!result.insync) {
        const { values } = await this.read();
        return { ok: false, observed: values, detail: `change ${pending} ${result.detail}` };
      }
      synced = ` (change ${pending} INSYNC)`;
    }
    const state = await this.read();
    const ok = state.values.length === 1 && state.values[0] === want && state.ttl === this.cfg.ttl;
    return {
      ok,
      observed: state.values,
      detail: ok
        ? `${this.cfg.record} ${this.cfg.type} is ${want} ttl ${this.cfg.ttl}${synced}`
        : `expected ${want} ttl ${this.cfg.ttl}, Route 53 has [${state.values.join(', ')}] (${state.detail})`,
    };
  }
}

export const route53Provider = defineProvider({
  kind: 'route53',
  schema,
  checkSites: dnsSiteIssues,
  create: (step) => new Route53Provider(step),
});
