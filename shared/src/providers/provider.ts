import type { z } from 'zod';
import type { Fields } from '../config/fields';
import type { Logger } from '../runtime/logger';
import type { StepPropagation } from '../store/records';

export interface SiteRouting {
  address?: string;
  target?: string;
}

export interface TargetSite {
  name: string;
  routing: SiteRouting;
}

/** The lease a controller holds while it acts; a provider checks it right before every write. */
export interface FenceGuard {
  readonly token: number;
  /** Throws LeaseLostError when this process no longer holds the lease with this token. */
  assertHeld(): Promise<void>;
  /**
   * Until when (ms since the epoch) the holder may still act, by its own conservative clock; 0 once lost. The
   * executor turns it into the AbortSignal of each provider call. Absent for guards that never expire (tools, tests).
   */
  deadline?(): number;
}

export interface ProviderContext {
  fence: FenceGuard;
  logger: Logger;
  /**
   * Aborts the provider's requests (including an SDK's own retries) when the lease they run under can no longer
   * be trusted. The controller always sets it; a provider combines it with its own per-request timeout.
   */
  signal?: AbortSignal;
  /** The operation a write belongs to, for providers that report it onward (webhook payloads). */
  operation?: { id: string; portal: string; from: string };
}

/** What the provider serves now, in the provider's own terms (record values, server states). */
export interface StepState {
  values: string[];
  /** Record TTL where the provider has one: a right value with a wrong TTL still needs a write. */
  ttl?: number;
  detail?: string;
}

/** The exact change apply() will send; JSON-safe and free of secrets so dry-runs and audits can print it. */
export interface StepPlan {
  kind: string;
  target: string;
  changes: boolean;
  description: string;
  request: Record<string, unknown>;
}

export interface VerifyResult {
  ok: boolean;
  observed: string[];
  detail: string;
}

/** One traffic step: validate (schema), read, plan (pure), apply, verify. */
export interface TrafficProvider {
  readonly kind: string;
  /** Human label without secrets, e.g. "powerdns www.portal.example./A". */
  readonly label: string;
  read(): Promise<StepState>;
  plan(current: StepState, site: TargetSite): StepPlan;
  apply(plan: StepPlan, ctx: ProviderContext): Promise<void>;
  verify(site: TargetSite): Promise<VerifyResult>;
  /**
   * DNS steps with `verify`: after verify() passed, which nameservers serve the site's answer and when
   * (dns-propagation.ts). Never throws for a server that lags; `applied.at` is when apply() returned.
   */
  propagation?(site: TargetSite, applied: { at: number; oldTtl?: number }, signal?: AbortSignal): Promise<StepPropagation>;
}

export interface ProviderDeps {
  logger: Logger;
}

/**
 * What every parsed step has in common. The index signature is what a step is to code that handles every kind
 * (the config's cross-field rules, the executor): fields it may look at, typed only by the step's own provider.
 */
export type StepConfigBase = { kind: string } & Record<string, unknown>;

/**
 * A provider's piece of the config schema: it parses a raw step into the step the provider runs with (defaults
 * filled, durations in ms, secrets resolved). Discriminable, so the config joins every piece into one union on kind.
 */
export type StepSchema<C extends StepConfigBase = StepConfigBase> = z.ZodType<C, unknown> & z.core.$ZodTypeDiscriminable;

/** The step a schema piece produces: the one type a provider's code sees. */
export type StepOf<S extends StepSchema> = z.output<S>;

/** A rule between a step and the portal's sites that failed, with the path of the step field it is about. */
export interface SiteIssue {
  path: (string | number)[];
  message: string;
}

/**
 * One traffic provider: its schema piece and what it does with the steps that piece produces. The step type is
 * the schema's output, never written by hand. Methods (not function-valued properties) on purpose: TypeScript
 * compares method parameters both ways, which is what lets the registry hold every provider as a
 * `ProviderDefinition` of the base step; the registry and the config dispatch on `kind`, so a provider is only
 * ever handed steps its own schema produced.
 */
export interface ProviderDefinition<S extends StepSchema = StepSchema> {
  readonly kind: StepOf<S>['kind'];
  /** This provider's piece of the config schema. */
  schema(fields: Fields): S;
  /** Cross-field rules between the step and the portal's sites, as messages for the step's path. */
  checkSites(step: StepOf<S>, sites: readonly TargetSite[]): SiteIssue[];
  create(step: StepOf<S>, deps: ProviderDeps): TrafficProvider;
  /** DNS providers whose API refuses short TTLs: the lowest one it takes (a risk window cannot go below it). */
  readonly lowestTtl?: number;
}

/** Declares a provider; the step type its methods see is inferred from `schema`, so no step type is written twice. */
export function defineProvider<S extends StepSchema>(definition: ProviderDefinition<S>): ProviderDefinition<S> {
  return definition;
}

/** A failure a provider reports; `retryable` says whether backing off and trying again can help. */
export class ProviderError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
    this.name = 'ProviderError';
  }
}

/**
 * The comparable form of a DNS value: IPv6 in RFC 5952 text (servers store it that way, so "2001:DB8:0::20" must
 * compare equal to "2001:db8::20"), names lower case and absolute. Values of other types pass unchanged.
 */
export function normaliseDnsValue(type: string, value: string): string {
  if (type === 'AAAA' && value.includes(':')) {
    try {
      // The URL parser is the standard library's IPv6 canonicaliser.
      return new URL(`http://[${value}]/`).hostname.slice(1, -1);
    } catch {
      return value;
    }
  }
  if (type === 'CNAME') {
    const lower = value.toLowerCase();
    return lower.endsWith('.') ? lower : `${lower}.`;
  }
  return value;
}

/** The value a DNS step writes for a site (normalised), or why the site cannot be written to this record type. */
export function dnsValueFor(type: string, site: TargetSite): { value?: string; error?: string } {
  const { address, target } = site.routing;
  if (type === 'CNAME') {
    return target ? { value: normaliseDnsValue('CNAME', target) } : { error: 'needs routing.target for a CNAME record' };
  }
  if (!address) return { error: `needs routing.address for an ${type} record` };
  const v6 = address.includes(':');
  if (type === 'A' && v6) return { error: `routing.address ${address} is IPv6 but the record type is A` };
  if (type === 'AAAA' && !v6) return { error: `routing.address ${address} is IPv4 but the record type is AAAA` };
  return { value: normaliseDnsValue(type, address) };
}

/** The signal one provider request waits under: its own time limit, cut short by the lease's deadline if any. */
export function requestSignal(timeoutMs: number, ctx?: { signal?: AbortSignal }): AbortSignal {
  const own = AbortSignal.timeout(timeoutMs);
  return ctx?.signal ? AbortSignal.any([own, ctx.signal]) : own;
}
