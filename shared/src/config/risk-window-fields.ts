import { z } from 'zod';
import { parseDuration } from './duration';
import { windowEndsAt, windowEndText, type RiskWindow } from '../core/risk-windows';
import { providerDefinition } from '../providers/registry';

/**
 * The shape of a risk window as people write it, in the config (`portals[].riskWindows`) and in
 * `POST /api/v1/portals/:id/risk-windows`: one schema, so a window the API refuses is refused by `validate` too.
 * Rules that need the portal's traffic steps or the clock are in riskWindowIssues().
 */

const WINDOW_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
/** A date and a time with its zone: "2027-01-01T00:00:00+07:00" or "…Z". A time without a zone means a different hour to each reader. */
const ISO_WITH_ZONE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/;
const ISO_WITHOUT_ZONE = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?)?$/;

function durationField(minMs: number, what: string) {
  return z.string({ error: 'must be a duration such as 30s, 10m or 6h' }).transform((text, ctx) => {
    const ms = parseDuration(text);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: `"${text}" is not a duration; write it like 30s, 10m or 6h` });
      return z.NEVER;
    }
    if (ms < minMs) {
      ctx.addIssue({ code: 'custom', message: `${what} must be at least ${minMs >= 1000 ? `${minMs / 1000}s` : `${minMs}ms`}, got ${text}` });
      return z.NEVER;
    }
    return ms;
  });
}

/** Date.parse rolls 2027-02-30 over to March; a date that is not on the calendar is a typo to report. */
function onTheCalendar(t: string): boolean {
  const [y, m, d, h, mi, sec] = [t.slice(0, 4), t.slice(5, 7), t.slice(8, 10), t.slice(11, 13), t.slice(14, 16), t.slice(17, 19) || '0'].map(Number);
  const day = new Date(Date.UTC(y, m - 1, d));
  return day.getUTCFullYear() === y && day.getUTCMonth() === m - 1 && day.getUTCDate() === d && h < 24 && mi < 60 && sec < 60;
}

/** The start: an ISO 8601 date-time with its zone, parsed to epoch ms. */
const startField = z.string({ error: 'must be an ISO 8601 date-time with its zone, e.g. 2027-01-01T00:00:00+07:00' }).transform((text, ctx) => {
  const t = text.trim();
  if (ISO_WITHOUT_ZONE.test(t)) {
    ctx.addIssue({ code: 'custom', message: `"${text}" has no zone: write the offset the announcement meant, e.g. ${t.includes('T') ? t : `${t}T00:00:00`}+07:00 or …Z` });
    return z.NEVER;
  }
  const ms = ISO_WITH_ZONE.test(t) && onTheCalendar(t) ? Date.parse(t) : NaN;
  if (Number.isNaN(ms)) {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not an ISO 8601 date-time with its zone, e.g. 2027-01-01T00:00:00+07:00` });
    return z.NEVER;
  }
  return { text: t, ms };
});

/** A DNS TTL, written as a duration ("5s") or as whole seconds (5). */
const ttlField = z.union([z.int().min(1, 'must be at least 1 second'), z.string()], { error: 'must be a TTL such as 5s or 5 (seconds)' }).transform((v, ctx) => {
  const ms = typeof v === 'number' ? v * 1000 : parseDuration(v);
  if (ms === undefined || ms < 1000 || ms % 1000 !== 0) {
    ctx.addIssue({ code: 'custom', message: `${JSON.stringify(v)} is not a TTL: write whole seconds such as 5s or 30` });
    return z.NEVER;
  }
  return ms / 1000;
});

const windowFields = {
  name: z.string().regex(WINDOW_NAME, 'must be lower-case letters, digits, - or _, starting with a letter or digit'),
  start: startField,
  duration: durationField(1000, 'a window'),
  leadTime: durationField(0, 'leadTime'),
  lowerTtlTo: ttlField,
  probeInterval: durationField(100, 'probeInterval').optional(),
};

function toWindow(w: z.output<z.ZodObject<typeof windowFields>>, source: RiskWindow['source']): RiskWindow {
  return {
    name: w.name,
    start: w.start.text,
    startsAt: w.start.ms,
    durationMs: w.duration,
    leadTimeMs: w.leadTime,
    lowerTtlTo: w.lowerTtlTo,
    probeIntervalMs: w.probeInterval,
    source,
  };
}

/** `portals[].riskWindows[]` in the config file. */
export const configRiskWindowSchema = z.strictObject(windowFields).transform((w) => toWindow(w, 'config'));

/** The body of POST /api/v1/portals/:id/risk-windows: the same fields, and why the window was announced. */
export const riskWindowBodySchema = z
  .strictObject({ ...windowFields, reason: z.string().trim().min(1, 'must not be empty').max(500, 'must be at most 500 characters').optional() })
  .transform((w): RiskWindow => ({ ...toWindow(w, 'api'), reason: w.reason }));

/** A traffic step as far as TTLs go: DNS steps have a numeric `ttl`; load balancers and webhooks have none. */
interface StepTtl {
  kind: string;
  ttl?: unknown;
  record?: unknown;
}

/**
 * The TTL a traffic step writes while `lowered` is in force (undefined: as configured), or undefined for a step
 * without one. The one rule for which steps a risk window touches: DNS steps have a numeric `ttl`, and a window
 * never raises one.
 */
export function stepTtl(step: StepTtl, lowered?: number): number | undefined {
  if (typeof step.ttl !== 'number') return undefined;
  return lowered === undefined ? step.ttl : Math.min(step.ttl, lowered);
}

export interface WindowIssue {
  path: (string | number)[];
  message: string;
}

/**
 * The rules between a window and its portal: the portal must have a DNS step (a zone whose TTL can be lowered),
 * `lowerTtlTo` must not exceed any DNS step's configured TTL (a window lowers TTLs, never raises them), and, when
 * `now` is given, the window must not have ended already.
 */
export function riskWindowIssues(w: RiskWindow, steps: readonly StepTtl[], now?: number): WindowIssue[] {
  const issues: WindowIssue[] = [];
  const dns = steps.flatMap((s, i) => {
    const ttl = stepTtl(s);
    return ttl === undefined ? [] : [{ s, i, ttl }];
  });
  if (!dns.length) {
    issues.push({ path: ['lowerTtlTo'], message: `the portal has no DNS zone to prepare: none of its traffic steps (${steps.map((s) => s.kind).join(', ')}) has a TTL` });
  }
  for (const { s, i, ttl } of dns) {
    const step = `traffic step ${i + 1} (${s.kind}${typeof s.record === 'string' ? ` ${s.record}` : ''})`;
    const lowest = providerDefinition(s.kind)?.lowestTtl;
    if (w.lowerTtlTo > ttl) {
      issues.push({ path: ['lowerTtlTo'], message: `${w.lowerTtlTo}s is larger than the ${ttl}s TTL of ${step}: a risk window lowers TTLs, never raises them` });
    } else if (lowest !== undefined && w.lowerTtlTo < lowest && w.lowerTtlTo < ttl) {
      issues.push({ path: ['lowerTtlTo'], message: `${w.lowerTtlTo}s is below the ${lowest}s that ${step} accepts: its API takes no shorter TTL` });
    }
  }
  if (now !== undefined && windowEndsAt(w) <= now) {
    issues.push({ path: ['start'], message: `the window is in the past: it ended at ${windowEndText(w)}` });
  }
  return issues;
}

/**
 * Config windows that already ended, for `portal-failover validate`: the running service keeps them (shown as
 * ended; a restart after a window must not fail), but the file should lose them.
 */
export function endedRiskWindowIssues(portals: readonly { riskWindows: readonly RiskWindow[] }[], now: number): WindowIssue[] {
  return portals.flatMap((p, i) =>
    p.riskWindows.flatMap((w, j) => (windowEndsAt(w) <= now ? [{ path: ['portals', i, 'riskWindows', j, 'start'], message: `the window "${w.name}" is in the past: it ended at ${windowEndText(w)}; remove it` }] : [])),
  );
}
