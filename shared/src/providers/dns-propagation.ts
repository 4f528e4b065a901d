import { randomInt } from 'node:crypto';
import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import * as dnsPacket from 'dns-packet';
import { z } from 'zod';
import { canonicalName, parseHostPort, type Fields } from '../config/fields';
import type { StepPropagation } from '../store/records';
import { DnsTransportError, type DnsEndpoint } from './dns/client';
import { exchangeUdp } from './dns/udp';
import { rcodeName } from './dns/wire';
import { dnsValueFor, normaliseDnsValue, type StepConfigBase, type TargetSite } from './provider';
import { resolveName } from './zonefile/parser';

/**
 * After a DNS step is verified at its source of truth, how the new answer spreads: every authoritative nameserver
 * is asked (no recursion) until it serves the new answer or the timeout passes, every listed resolver once. A server
 * that lags does not fail the switch (traffic has moved where the provider writes); it is recorded and reported.
 */

const DNS_PORT = 53;
/** Between two questions to a nameserver that still serves the old answer: a secondary's NOTIFY+IXFR takes ~10-100 ms. */
const POLL_MS = 200;
/** One question's wait; a lost datagram is asked again rather than waiting out the whole timeout. */
const QUESTION_MS = 1000;
const CLOUDFLARE_AUTO_TTL = 300;

export interface PropagationSettings {
  /** Absent: the zone's NS records are looked up when the check runs. */
  nameservers?: DnsEndpoint[];
  resolvers: DnsEndpoint[];
  timeoutMs: number;
}

/** "192.0.2.1", "192.0.2.1:5353", "[2001:db8::1]:53", "::1" or "ns1.example.net": the port is 53 unless given. */
export function parseNameserver(text: string): DnsEndpoint | undefined {
  if (isIP(text)) return { host: text, port: DNS_PORT };
  const hp = parseHostPort(text);
  if (hp) return hp.port === 0 ? undefined : { host: hp.host, port: hp.port };
  return /^([a-zA-Z0-9_]([a-zA-Z0-9_-]{0,62})?\.)*[a-zA-Z0-9_-]{1,63}\.?$/.test(text) ? { host: text, port: DNS_PORT } : undefined;
}

export function endpointText(e: DnsEndpoint): string {
  return `${e.host.includes(':') ? `[${e.host}]` : e.host}:${e.port}`;
}

/** The optional `verify` block of every DNS step (spread in through dnsRecordFields). */
export function dnsVerifyField(f: Fields) {
  const servers = (what: string) =>
    z
      .array(
        f.nonEmpty().transform((text, ctx) => {
          const e = parseNameserver(text);
          if (!e) {
            ctx.addIssue({ code: 'custom', message: `"${text}" is not a nameserver address: write host, host:port or [IPv6]:port (port 1-65535)` });
            return z.NEVER;
          }
          return e;
        }),
      )
      .min(1, `list at least one ${what}, or leave the field out`);
  return z
    .strictObject({
      nameservers: servers('nameserver')
        .optional()
        .describe("Authoritative nameservers to ask after the switch (host or host:port). Default: the zone's NS records."),
      resolvers: servers('resolver').optional().describe('Resolvers to ask once after the switch, to see what caches serve.'),
      timeout: f
        .duration(1)
        .prefault('5s')
        .describe('How long to wait for every nameserver to serve the new answer; must fit in the leader lease like other step time limits.'),
    })
    .optional()
    .describe('Propagation check after the step is verified: which nameservers serve the new answer, and when. A lagging one does not fail the switch.')
    .transform((v): PropagationSettings | undefined => (v ? { nameservers: v.nameservers, resolvers: v.resolvers ?? [], timeoutMs: v.timeout } : undefined));
}

/** What one server was seen doing during the check. */
export interface ServerObservation {
  server: string;
  role: 'authoritative' | 'resolver';
  /** When (ms since the epoch) it first served the new answer. */
  servedAt?: number;
  /** What it served the last time it did not serve the new answer. */
  last?: string;
}

export interface PropagationInput {
  record: string;
  type: string;
  value: string;
  appliedAt: number;
  timeoutMs: number;
  oldTtl?: number;
  observations: ServerObservation[];
  error?: string;
}

/** The step's propagation record from what was observed: pure, so the bookkeeping is tested without a network. */
export function propagationRecord(input: PropagationInput): StepPropagation {
  return {
    record: input.record,
    type: input.type,
    value: input.value,
    appliedAt: input.appliedAt,
    timeoutMs: input.timeoutMs,
    ...(input.oldTtl !== undefined ? { oldTtl: input.oldTtl, oldAnswerUntil: input.appliedAt + input.oldTtl * 1000 } : {}),
    servers: input.observations.map((o) =>
      o.servedAt !== undefined
        ? { server: o.server, role: o.role, propagated: true, afterMs: Math.max(0, o.servedAt - input.appliedAt) }
        : {
            server: o.server,
            role: o.role,
            propagated: false,
            detail: o.role === 'authoritative' ? `not serving ${input.value} within ${input.timeoutMs}ms${o.last ? `: ${o.last}` : ''}` : (o.last ?? 'no answer'),
          },
    ),
    ...(input.error ? { error: input.error } : {}),
  };
}

/** One line per server and the cache horizon, for logs and the CLI. */
export function propagationLines(p: StepPropagation): string[] {
  const lines = p.servers.map((s) =>
    s.propagated ? `${s.role} ${s.server}: serves ${p.value} after ${s.afterMs}ms` : `${s.role} ${s.server}: NOT propagated (${s.detail ?? 'no detail'})`,
  );
  if (p.error) lines.push(`error: ${p.error}`);
  lines.push(
    p.oldAnswerUntil !== undefined
      ? `resolvers may hold the old answer until ${new Date(p.oldAnswerUntil).toISOString()} (apply time + old TTL ${p.oldTtl}s)`
      : 'old TTL unknown: how long resolvers may hold the old answer is not known',
  );
  return lines;
}

export interface WatchOptions {
  now?: () => number;
  /** Fires when the check must stop early (the lease ended, the operation failed); what was seen so far is kept. */
  signal?: AbortSignal;
  /** Finds the zone's nameservers when none are configured. */
  findNameservers?: (record: string) => Promise<DnsEndpoint[]>;
}

interface Want {
  record: string;
  type: string;
  value: string;
}

/** The answer a server gives now: whether it is exactly the new value, and what it was otherwise. */
async function ask(server: DnsEndpoint, want: Want, recursion: boolean, timeoutMs: number, signal?: AbortSignal): Promise<{ ok: boolean; seen: string }> {
  const id = randomInt(0, 0x10000);
  const query = dnsPacket.encode({
    type: 'query',
    id,
    flags: recursion ? dnsPacket.RECURSION_DESIRED : 0,
    questions: [{ type: want.type as dnsPacket.RecordType, name: want.record.replace(/\.$/, ''), class: 'IN' }],
  });
  let answer: dnsPacket.Packet;
  try {
    answer = dnsPacket.decode(await exchangeUdp(server, query, timeoutMs, signal));
  } catch (err) {
    if (err instanceof DnsTransportError) return { ok: false, seen: err.code === 'ETIMEDOUT' ? 'no answer' : err.message };
    return { ok: false, seen: `malformed answer: ${(err as Error).message}` };
  }
  const rcode = rcodeName((answer.flags ?? 0) & 0x0f);
  if (rcode !== 'NOERROR') return { ok: false, seen: rcode };
  const values = [
    ...new Set(
      (answer.answers ?? [])
        .filter((a) => a.type === want.type && canonicalName(a.name) === canonicalName(want.record))
        .map((a) => normaliseDnsValue(want.type, String((a as { data?: unknown }).data))),
    ),
  ].sort();
  return { ok: values.length === 1 && values[0] === want.value, seen: values.length ? `served [${values.join(', ')}]` : 'no record' };
}

function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * The zone's nameservers from the system resolver: the NS records of the closest enclosing name that has them
 * (the record's own name first, then its parents, never the root or a TLD), each name's IPv4 and IPv6 addresses.
 * `lookupServers` replaces the system resolver (tests ask their own server).
 */
export async function zoneNameservers(record: string, lookupServers?: string[]): Promise<DnsEndpoint[]> {
  const resolver = new Resolver({ timeout: 2000, tries: 2 });
  if (lookupServers) resolver.setServers(lookupServers);
  const labels = canonicalName(record).slice(0, -1).split('.');
  for (let i = 0; i < labels.length - 1; i++) {
    const name = labels.slice(i).join('.');
    let hosts: string[];
    try {
      hosts = await resolver.resolveNs(name);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENODATA' || code === 'ENOTFOUND') continue;
      throw new Error(`looking up NS records of ${name}: ${code ?? (err as Error).message}`);
    }
    const addresses = await Promise.all(hosts.map(async (h) => [...(await resolver.resolve4(h).catch(() => [])), ...(await resolver.resolve6(h).catch(() => []))]));
    const found = addresses.flat().map((host) => ({ host, port: DNS_PORT }));
    if (found.length) return found;
    throw new Error(`the nameservers of ${name} (${hosts.join(', ')}) have no addresses`);
  }
  throw new Error(`no NS records found for ${record} or its parent zones`);
}

/** Host names in the list are resolved to addresses once, so a nameserver is asked at a fixed address. */
async function addressed(servers: DnsEndpoint[]): Promise<DnsEndpoint[]> {
  const out: DnsEndpoint[] = [];
  for (const s of servers) {
    if (isIP(s.host.replace(/^\[(.*)\]$/, '$1'))) out.push({ host: s.host.replace(/^\[(.*)\]$/, '$1'), port: s.port });
    else {
      const r = new Resolver({ timeout: 2000, tries: 2 });
      const addrs = await r.resolve4(s.host).catch(() => r.resolve6(s.host));
      out.push(...addrs.map((host) => ({ host, port: s.port })));
    }
  }
  return out;
}

/** Asks the servers as the module comment says and returns what was seen, never throwing for a server's failure. */
export async function watchPropagation(
  want: Want,
  settings: PropagationSettings,
  applied: { at: number; oldTtl?: number },
  opts: WatchOptions = {},
): Promise<StepPropagation> {
  const now = opts.now ?? Date.now;
  const deadline = applied.at + settings.timeoutMs;
  const base = { ...want, appliedAt: applied.at, timeoutMs: settings.timeoutMs, oldTtl: applied.oldTtl };
  let nameservers: DnsEndpoint[];
  let resolvers: DnsEndpoint[];
  try {
    nameservers = await addressed(settings.nameservers ?? (await (opts.findNameservers ?? zoneNameservers)(want.record)));
    resolvers = await addressed(settings.resolvers);
  } catch (err) {
    return propagationRecord({ ...base, observations: [], error: `cannot find the servers to ask: ${(err as Error).message}` });
  }
  const watchOne = async (server: DnsEndpoint): Promise<ServerObservation> => {
    const seen: ServerObservation = { server: endpointText(server), role: 'authoritative' };
    for (;;) {
      const left = deadline - now();
      if (left <= 0 || opts.signal?.aborted) return seen;
      const r = await ask(server, want, false, Math.min(QUESTION_MS, left), opts.signal);
      if (r.ok) return { ...seen, servedAt: now() };
      seen.last = r.seen;
      await pause(Math.min(POLL_MS, Math.max(0, deadline - now())), opts.signal);
    }
  };
  const askOnce = async (server: DnsEndpoint): Promise<ServerObservation> => {
    const r = await ask(server, want, true, Math.max(1, Math.min(settings.timeoutMs, deadline - now())), opts.signal);
    return { server: endpointText(server), role: 'resolver', ...(r.ok ? { servedAt: now() } : { last: r.seen }) };
  };
  const observations = await Promise.all([...nameservers.map(watchOne), ...resolvers.map(askOnce)]);
  return propagationRecord({ ...base, observations });
}

/** The absolute name a DNS step writes: zonefile records may be relative to their zone, the others are absolute. */
function stepRecordName(step: StepConfigBase): string | undefined {
  if (typeof step.record !== 'string') return undefined;
  if (step.kind === 'zonefile' && typeof step.zone === 'string') return resolveName(step.record, canonicalName(step.zone));
  return canonicalName(step.record);
}

export type PropagationWatch = (site: TargetSite, applied: { at: number; oldTtl?: number }, signal?: AbortSignal) => Promise<StepPropagation>;

/** The shape dnsVerifyField produces; the base step type holds its fields as unknown. */
export function isPropagationSettings(v: unknown): v is PropagationSettings {
  return typeof v === 'object' && v !== null && typeof (v as { timeoutMs?: unknown }).timeoutMs === 'number' && Array.isArray((v as { resolvers?: unknown }).resolvers);
}

/** The propagation check of a DNS step with `verify`, or undefined for any other step. */
export function propagationWatchFor(step: StepConfigBase, opts: Omit<WatchOptions, 'signal'> = {}): PropagationWatch | undefined {
  const settings = isPropagationSettings(step.verify) ? step.verify : undefined;
  const record = stepRecordName(step);
  if (!settings || !record || typeof step.type !== 'string') return undefined;
  const type = step.type;
  return async (site, applied, signal) => {
    const value = dnsValueFor(type, site).value ?? '';
    // Cloudflare stores "automatic" as TTL 1 and serves it as 300 s (what octoDNS maps it to as well).
    const oldTtl = step.kind === 'cloudflare' && applied.oldTtl === 1 ? CLOUDFLARE_AUTO_TTL : applied.oldTtl;
    return watchPropagation({ record, type, value }, settings, { at: applied.at, oldTtl }, { ...opts, signal });
  };
}
