import { z } from 'zod';
import { parseRecord, TriggerSchema, type Parsed } from '../core/records';

/**
 * The operation records the leader and the API keep in Redis, as zod schemas: the types are derived from them and a
 * record is parsed when it is read back (records.ts in core holds the portal state and check result).
 */

const epochMs = z.number();

/** rolled_back / rollback_failed: the step had been applied, a later step failed, and policy asked to undo it. */
export const StepStatusSchema = z.enum(['pending', 'applying', 'verified', 'failed', 'rolled_back', 'rollback_failed']);
/** pending: asked for, not yet taken by the leader; rejected: preconditions failed when the leader took it. */
export const OperationStatusSchema = z.enum(['pending', 'running', 'succeeded', 'failed', 'rejected']);

/** What the decision saw: per site, each vantage's verdict with the failing check's detail. */
export const OperationEvidenceSchema = z.object({
  analysis: z.string(),
  sites: z.record(
    z.string(),
    z.object({
      status: z.string(),
      vantages: z.array(z.object({ vantage: z.string(), verdict: z.string(), failingSince: epochMs.optional(), detail: z.string().optional() })),
    }),
  ),
});

/**
 * How a DNS step's new answer spread after it was applied: per nameserver (asked until it served the new answer or
 * the timeout passed) and per resolver (asked once), and until when caches may still hold the old answer.
 */
export const StepPropagationSchema = z.object({
  record: z.string(),
  type: z.string(),
  value: z.string(),
  appliedAt: epochMs,
  timeoutMs: z.number().nonnegative(),
  /** TTL the record had before the switch; unknown when the provider does not report one. */
  oldTtl: z.number().int().nonnegative().optional(),
  /** appliedAt + oldTtl: a resolver that cached the old answer just before the switch may serve it until then. */
  oldAnswerUntil: epochMs.optional(),
  servers: z.array(
    z.object({
      server: z.string(),
      role: z.enum(['authoritative', 'resolver']),
      propagated: z.boolean(),
      /** ms after appliedAt when it first served the new answer. */
      afterMs: z.number().nonnegative().optional(),
      /** What it served last when it had not propagated (old answer, timeout, REFUSED, ...). */
      detail: z.string().optional(),
    }),
  ),
  /** Why no server could be asked (the zone's nameservers could not be found). */
  error: z.string().optional(),
});
export type StepPropagation = z.infer<typeof StepPropagationSchema>;

export const OperationStepSchema = z.object({
  index: z.number().int().nonnegative(),
  kind: z.string(),
  label: z.string(),
  status: StepStatusSchema,
  attempts: z.number().int().nonnegative(),
  plan: z.object({ changes: z.boolean(), description: z.string(), request: z.record(z.string(), z.unknown()) }).optional(),
  verified: z.string().optional(),
  error: z.string().optional(),
  startedAt: epochMs.optional(),
  finishedAt: epochMs.optional(),
  propagation: StepPropagationSchema.optional(),
});

/** One switchover attempt: persisted before it starts, updated after every step, resumable after a crash. */
export const OperationSchema = z.object({
  id: z.string().min(1),
  portal: z.string().min(1),
  from: z.string(),
  to: z.string(),
  trigger: TriggerSchema,
  reason: z.string(),
  actor: z.string(),
  status: OperationStatusSchema,
  /** Fencing token of the lease holder that created or last resumed it (0 while only requested). */
  fence: z.number().int().nonnegative(),
  detectedAt: epochMs.optional(),
  decidedAt: epochMs,
  finishedAt: epochMs.optional(),
  resumedCount: z.number().int().nonnegative(),
  steps: z.array(OperationStepSchema),
  error: z.string().optional(),
  /** A manual switch that overrode the runbook preconditions. */
  force: z.boolean().optional(),
  /** Client address of the API request that asked for it. */
  client: z.string().optional(),
  /** Site the requester expected to be active (alerts name the failing site); the switch is void if it changed. */
  expectFrom: z.string().optional(),
  requestedAt: epochMs.optional(),
  evidence: OperationEvidenceSchema.optional(),
  /** Pre- and post-switch hook results, in the order they ran. */
  hooks: z.array(z.object({ phase: z.enum(['pre', 'post']), hook: z.string(), ok: z.boolean(), detail: z.string(), ms: z.number() })).optional(),
  /** Set once the pre-switch hooks passed, so a resumed operation does not run them again. */
  preHooksPassed: z.boolean().optional(),
});

/**
 * A switchover somebody asked for (API, Alertmanager, a drill), stored for the leader to take. Not an operation yet:
 * the leader judges it (admitSwitch) and either refuses it or makes the operation from it.
 */
export const SwitchIntentSchema = z.object({
  id: z.string().min(1),
  portal: z.string().min(1),
  /** The site active when it was asked for. */
  from: z.string(),
  /** Absent: the leader picks the first healthy other site in priority order (older records stored ''). */
  to: z
    .string()
    .optional()
    .transform((v) => (v === '' ? undefined : v)),
  trigger: z.enum(['manual', 'alert']),
  reason: z.string(),
  actor: z.string(),
  /** Client address of the API request that asked for it. */
  client: z.string().optional(),
  /** A person's override of the forceable preconditions (alerts never force). */
  force: z.boolean().default(false),
  /** Site the requester expected to be active (alerts name the failing site); the switch is void if it changed. */
  expectFrom: z.string().optional(),
  requestedAt: epochMs,
});

/** An acknowledgement of the last switch (lifts the anti-flap cooldown); written by the API. */
export const AckSchema = z.object({ at: epochMs, actor: z.string(), reason: z.string() });

/** The kinds of stored record that are parsed when read back: the `record` label of failover_records_invalid_total. */
export const RECORD_KINDS = ['state', 'operation', 'intent', 'freeze', 'ack', 'risk-window'] as const;
export type RecordKind = (typeof RECORD_KINDS)[number];

/** A stored record that did not parse: which, under what key, and the first bad field. It is treated as absent. */
export interface InvalidRecord {
  record: RecordKind;
  key: string;
  error: string;
}
export type ReportInvalidRecord = (r: InvalidRecord) => void;

/**
 * Parses a stored JSON record. A record that is not JSON or does not match its schema is reported and read as
 * absent: a bad record (an older or newer writer, a hand edit) never crashes the reader and is never acted on.
 */
export function readRecord<T>(raw: string | null, record: RecordKind, key: string, parse: (v: unknown) => Parsed<T>, report: ReportInvalidRecord): T | undefined {
  if (raw === null) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    // Not the parser's message: it quotes the content, which may hold anything.
    report({ record, key, error: `not JSON (${raw.length} bytes)` });
    return undefined;
  }
  const r = parse(value);
  if (r.ok) return r.value;
  report({ record, key, error: r.error });
  return undefined;
}

export const parseOperation = (v: unknown): Parsed<z.output<typeof OperationSchema>> => parseRecord(OperationSchema, v);
export const parseSwitchIntent = (v: unknown): Parsed<z.output<typeof SwitchIntentSchema>> => parseRecord(SwitchIntentSchema, v);
