import { z } from 'zod';
import { TtlLoweredSchema } from './risk-windows';

/**
 * The records the controller keeps in Redis and reads back (portal state, check results in the queue), as zod
 * schemas: the types are derived from them, and a record is parsed when it is read, never cast. Pure data rules,
 * no I/O. Operation and SwitchIntent records are in store/records.ts.
 */

const epochMs = z.number();

export const TriggerSchema = z.enum(['auto', 'manual', 'alert']);
export type Trigger = z.output<typeof TriggerSchema>;

export const PhaseSchema = z.enum(['healthy', 'degraded', 'failing_over', 'failed_over', 'both_down', 'no_data', 'frozen', 'unknown_routing']);
export type Phase = z.output<typeof PhaseSchema>;
export const PHASES: readonly Phase[] = PhaseSchema.options;

export const FreezeSchema = z.object({
  reason: z.string(),
  actor: z.string(),
  at: epochMs,
  until: epochMs.optional(),
});
export type Freeze = z.output<typeof FreezeSchema>;

export const FailureReasonSchema = z.enum(['timeout', 'refused', 'reset', 'dns', 'tls', 'status', 'content', 'latency', 'redirect', 'body_too_large', 'liveness', 'error']);

/** Hysteresis state of one check of one site as seen from one vantage. */
export const CheckHealthSchema = z.object({
  verdict: z.enum(['up', 'down', 'unknown']),
  okStreak: z.number().int().nonnegative(),
  failStreak: z.number().int().nonnegative(),
  /** Start time of the first failed probe of the current failure streak (for failover_detection_seconds). */
  failingSince: epochMs.optional(),
  /** Start time of the newest result applied; older or equal results are ignored (duplicates, reordering). */
  lastAt: epochMs,
  intervalMs: z.number().positive(),
  lastOk: z.boolean(),
  lastDetail: z.string().optional(),
  /** The newest result came from a vantage whose canary failed (see CheckResult.blind). */
  blind: z.boolean().optional(),
  /** Newest content version a probe of this check reported, and when (kept across results that carry none). */
  version: z.string().optional(),
  versionAt: epochMs.optional(),
});

/** health[site][vantage][check] */
export const PortalHealthSchema = z.record(z.string(), z.record(z.string(), z.record(z.string(), CheckHealthSchema)));

export const InflightSchema = z.object({ operationId: z.string().min(1), from: z.string(), to: z.string(), trigger: TriggerSchema, since: epochMs });

/** Everything the controller remembers about one portal; persisted in Redis so it survives restarts. */
export const PortalStateSchema = z.object({
  portal: z.string().min(1),
  activeSite: z.string().min(1),
  health: PortalHealthSchema,
  /** When the anti-flap cooldown started: the last switch, automatic or manual, or an adopted non-primary routing. */
  cooldownStartedAt: epochMs.optional(),
  /** An acknowledgement after the cooldown started lifts the anti-flap block. */
  ackedAt: epochMs.optional(),
  frozen: FreezeSchema.optional(),
  inflight: InflightSchema.optional(),
  phase: PhaseSchema,
  lastReason: z.string(),
  /**
   * Set while the leader cannot tell where traffic goes (no record and the traffic steps disagree, point to no
   * configured site, or cannot be read): why, naming each step's answer. Blocks automatic switches; a verified
   * switch, or the steps agreeing again, clears it.
   */
  unknownRouting: z.string().optional(),
  /** The TTL the leader made every DNS step hold for a risk window (risk-windows.ts); absent: the configured TTLs. */
  ttlLowered: TtlLoweredSchema.optional(),
});

/** What a check result carries from a checker to the controller (other processes, maybe other versions). */
export const CheckResultSchema = z.object({
  portal: z.string().min(1),
  site: z.string().min(1),
  check: z.string().min(1),
  vantage: z.string().min(1),
  ok: z.boolean(),
  /** Epoch ms when the probe started. */
  at: epochMs,
  durationMs: z.number(),
  /** The check's interval, so the controller can tell when a vantage went stale. */
  intervalMs: z.number().positive(),
  reason: FailureReasonSchema.optional(),
  /** One human sentence, never a secret (URLs have credentials stripped). */
  detail: z.string().optional(),
  status: z.number().optional(),
  /** Epoch ms when the server's TLS certificate expires, when the probe saw one. */
  certExpiresAt: epochMs.optional(),
  /** Something to fix that is no reason to move traffic (a certificate close to expiry); logged, never a failure. */
  warning: z.string().optional(),
  /** Content version the probe read (a header or a JSON pointer), for readiness `sameVersionAs`. */
  version: z.string().max(200).optional(),
  /** The vantage's own canary failed: it cannot see out, so its failures say nothing about the site. */
  blind: z.boolean().optional(),
});

/** One zod issue as "path: message", naming the field. */
export function describeIssue(err: z.ZodError): string {
  const i = err.issues[0];
  return i ? `${i.path.length ? i.path.join('.') : '(record)'}: ${i.message}` : 'invalid';
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

/** Parses a record read back from storage; a failure names the first bad field. */
export function parseRecord<S extends z.ZodType>(schema: S, value: unknown): Parsed<z.output<S>> {
  const r = schema.safeParse(value);
  return r.success ? { ok: true, value: r.data } : { ok: false, error: describeIssue(r.error) };
}

/**
 * A saved portal state. One saved before the rename carries the cooldown's start as `lastAutoSwitchAt` (it was
 * set by manual switches too): read once as `cooldownStartedAt`, and saved under that name from then on.
 */
export function parsePortalState(value: unknown): Parsed<z.output<typeof PortalStateSchema>> {
  if (value && typeof value === 'object' && 'lastAutoSwitchAt' in value) {
    const { lastAutoSwitchAt, ...rest } = value as Record<string, unknown>;
    value = { cooldownStartedAt: lastAutoSwitchAt, ...rest };
  }
  return parseRecord(PortalStateSchema, value);
}
