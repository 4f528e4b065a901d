import { z } from 'zod';
import { RiskWindowView } from './risk-windows';

export { RiskWindowListResponse, RiskWindowResponse, RiskWindowView } from './risk-windows';

const reason = z
  .string({ error: 'is required: say why (it goes to the audit log)' })
  .min(3, { error: 'must say why in at least 3 characters', abort: true })
  .max(500, { error: 'must be at most 500 characters', abort: true })
  .refine((v) => v.trim().length >= 3, 'must say why in at least 3 characters');

export const SwitchoverBody = z.strictObject({
  to: z.string({ error: 'is required: the site to switch to' }).min(1, 'must name a site').max(200, 'must be at most 200 characters'),
  reason,
  dryRun: z.boolean().optional(),
  force: z.boolean().optional(),
});

export const FreezeBody = z.strictObject({
  reason,
  until: z.iso.datetime({ offset: true, error: 'must be an ISO 8601 date-time such as 2026-11-24T06:00:00Z' }).optional(),
});

export const UnfreezeBody = z.strictObject({ reason: reason.optional() });

export const AckBody = z.strictObject({ reason });

export const OperationsQuery = z.strictObject({
  limit: z.coerce.number({ error: 'must be a number' }).int().min(1).max(200).optional(),
  cursor: z.string().max(400).optional(),
});

const instant = z
  .union([z.iso.datetime({ offset: true }), z.string().regex(/^\d{10,14}$/)], { error: 'must be an ISO 8601 date-time or epoch milliseconds' })
  .refine((v) => (/^\d+$/.test(v) ? Number(v) : Date.parse(v)) >= 0, 'must not be before 1970');

export const AuditQuery = z.strictObject({
  portal: z.string().optional(),
  type: z.string().optional(),
  since: instant.optional(),
  until: instant.optional(),
  // Stream ids are two unsigned 64-bit numbers; anything else would make Redis refuse the range.
  cursor: z
    .string()
    .refine((v) => /^\d{1,20}-\d{1,20}$/.test(v) && v.split('-').every((n) => BigInt(n) < 18446744073709551615n), 'must be the `next` value of a previous page')
    .optional(),
  limit: z.coerce.number({ error: 'must be a number' }).int().min(1).max(1000).optional(),
});

/**
 * Limits on what an alert may carry into the audit log. Labels are identifiers in Prometheus (name, instance,
 * job...), so these are generous; beyond them the payload is refused naming the label, never cut silently.
 * Annotations are free text: they are accepted at any length and cut (marked) where they are used.
 */
export const ALERT_LIMITS = { labels: 64, labelName: 128, labelValue: 1024, fingerprint: 256 } as const;

const labelSet = z
  .record(
    z.string().max(ALERT_LIMITS.labelName, `label names must be at most ${ALERT_LIMITS.labelName} characters`),
    z.string().max(ALERT_LIMITS.labelValue, `must be at most ${ALERT_LIMITS.labelValue} characters`),
  )
  .refine((l) => Object.keys(l).length <= ALERT_LIMITS.labels, `must have at most ${ALERT_LIMITS.labels} labels`);

/** Alertmanager webhook payload, version 4 (https://prometheus.io/docs/alerting/latest/configuration/#webhook_config). */
export const AlertmanagerBody = z.looseObject({
  version: z.literal('4', { error: 'must be "4" (Alertmanager webhook payload version)' }),
  status: z.enum(['firing', 'resolved']),
  receiver: z.string().optional(),
  groupKey: z.string().optional(),
  alerts: z
    .array(
      z.looseObject({
        status: z.enum(['firing', 'resolved']),
        labels: labelSet,
        annotations: z.record(z.string(), z.string()).optional(),
        startsAt: z.string().optional(),
        endsAt: z.string().optional(),
        fingerprint: z.string().max(ALERT_LIMITS.fingerprint, `must be at most ${ALERT_LIMITS.fingerprint} characters`).optional(),
      }),
    )
    .max(1000),
});

/** Admin: re-read the token file now. */
export const TokenReloadBody = z.strictObject({ reason });

const tokenFileStatus = z.object({ path: z.string(), loadedAt: z.number().optional(), tokens: z.int(), error: z.string().optional() });

export const TokenListResponse = z.object({
  tokens: z.array(
    z.object({ name: z.string(), role: z.enum(['viewer', 'automation', 'operator', 'admin']), source: z.enum(['config', 'file']), expires: z.string().optional(), expired: z.boolean() }),
  ),
  file: tokenFileStatus.optional(),
});

export const TokenReloadResponse = z.object({
  ok: z.boolean(),
  added: z.array(z.string()).optional(),
  removed: z.array(z.string()).optional(),
  changed: z.array(z.string()).optional(),
  error: z.string().optional(),
  file: tokenFileStatus.optional(),
});

// Response shapes: documented in the OpenAPI document and checked against real responses in the tests.
/** RFC 9457 problem details (application/problem+json); see problem.ts for the extension members. */
export const ErrorResponse = z.looseObject({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  detail: z.string(),
  instance: z.string().optional(),
  problems: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  operationId: z.string().optional(),
  error: z.string().meta({ deprecated: true, description: 'same as detail; read detail' }),
});

const step = z.object({
  index: z.number(),
  kind: z.string(),
  label: z.string(),
  status: z.enum(['pending', 'applying', 'verified', 'failed', 'rolled_back', 'rollback_failed']),
  attempts: z.number(),
  plan: z.object({ changes: z.boolean(), description: z.string(), request: z.record(z.string(), z.unknown()).optional() }).optional(),
  verified: z.string().optional(),
  error: z.string().optional(),
  startedAt: z.number().optional(),
  finishedAt: z.number().optional(),
  /** DNS steps with `verify`: when each nameserver served the new answer, and until when caches may hold the old one. */
  propagation: z
    .object({
      record: z.string(),
      type: z.string(),
      value: z.string(),
      appliedAt: z.number(),
      timeoutMs: z.number(),
      oldTtl: z.number().optional(),
      oldAnswerUntil: z.number().optional(),
      servers: z.array(
        z.object({
          server: z.string(),
          role: z.enum(['authoritative', 'resolver']),
          propagated: z.boolean(),
          afterMs: z.number().optional(),
          detail: z.string().optional(),
        }),
      ),
      error: z.string().optional(),
    })
    .optional(),
});

export const OperationResponse = z.object({
  id: z.string(),
  portal: z.string(),
  from: z.string(),
  to: z.string(),
  trigger: z.enum(['auto', 'manual', 'alert']),
  reason: z.string(),
  actor: z.string(),
  status: z.enum(['pending', 'running', 'succeeded', 'failed', 'rejected']),
  fence: z.number(),
  detectedAt: z.number().optional(),
  decidedAt: z.number(),
  requestedAt: z.number().optional(),
  finishedAt: z.number().optional(),
  resumedCount: z.number(),
  steps: z.array(step),
  error: z.string().optional(),
  force: z.boolean().optional(),
  client: z.string().optional(),
  expectFrom: z.string().optional(),
  evidence: z.record(z.string(), z.unknown()).optional(),
  hooks: z.array(z.object({ phase: z.enum(['pre', 'post']), hook: z.string(), ok: z.boolean(), detail: z.string(), ms: z.number() })).optional(),
  preHooksPassed: z.boolean().optional(),
});

const vantage = z.object({ vantage: z.string(), verdict: z.string(), failingSince: z.number().optional(), detail: z.string().optional() });

export const PortalResponse = z.object({
  id: z.string(),
  name: z.string(),
  activeSite: z.string(),
  phase: z.string(),
  reason: z.string(),
  sites: z.array(
    z.object({
      name: z.string(),
      provider: z.string(),
      status: z.enum(['up', 'down', 'unknown']),
      vantages: z.array(vantage),
      /** Whether the site may become the switch target (readiness checks up by quorum, content version current). */
      readiness: z.object({ ready: z.boolean(), reason: z.string() }).optional(),
    }),
  ),
  frozen: z.object({ reason: z.string(), actor: z.string(), at: z.number(), until: z.number().optional() }).nullable(),
  cooldown: z.object({ lastAutoSwitchAt: z.string(), until: z.string(), active: z.boolean(), acknowledged: z.boolean() }).nullable(),
  operationInFlight: z.object({ operationId: z.string(), from: z.string(), to: z.string(), trigger: z.string(), since: z.number() }).nullable(),
  pendingRequest: z.string().nullable(),
  lastOperation: OperationResponse.nullable(),
  /** Announced cuts not yet ended, by start; the DNS TTL a window holds now (null: as configured). */
  riskWindows: z.array(RiskWindowView),
  ttlLowered: z.object({ ttl: z.number(), window: z.string(), at: z.string() }).nullable(),
});

export const PortalListResponse = z.object({ portals: z.array(PortalResponse) });
export const OperationListResponse = z.object({ operations: z.array(OperationResponse), next: z.string().optional() });

export const DryRunResponse = z.object({
  dryRun: z.literal(true),
  portal: z.string(),
  from: z.string(),
  to: z.string(),
  preconditions: z.array(z.object({ check: z.string(), ok: z.boolean(), detail: z.string(), forceable: z.boolean() })),
  wouldProceed: z.boolean(),
  plan: z.array(
    z.object({ step: z.number(), kind: z.string(), label: z.string(), changes: z.boolean().optional(), description: z.string().optional(), request: z.record(z.string(), z.unknown()).optional(), error: z.string().optional() }),
  ),
});

export const FreezeResponse = z.object({ portal: z.string(), frozen: z.object({ reason: z.string(), actor: z.string(), at: z.number(), until: z.number().optional() }).nullable() });
export const AckResponse = z.object({ portal: z.string(), acknowledged: z.object({ at: z.number(), actor: z.string(), reason: z.string() }) });

export const AuditResponse = z.object({
  entries: z.array(
    z.object({
      id: z.string(),
      at: z.string(),
      type: z.string(),
      portal: z.string().optional(),
      actor: z.string(),
      client: z.string().optional(),
      reason: z.string().optional(),
      operation: z.string().optional(),
      data: z.record(z.string(), z.unknown()).optional(),
      seq: z.int().optional().describe('position in the hash chain'),
      prevHash: z.string().optional().describe('hash of the previous entry'),
      hash: z.string().optional().describe('SHA-256 of this entry\'s canonical JSON (which includes prevHash)'),
    }),
  ),
  next: z.string().optional(),
});

export const AlertmanagerResponse = z.object({
  results: z.array(z.object({ alert: z.string(), portal: z.string().optional(), outcome: z.enum(['started', 'ignored', 'duplicate', 'blocked']), detail: z.string(), operationId: z.string().optional() })),
});

export const HealthResponse = z.object({ status: z.string(), error: z.string().optional() });

export const AuditVerifyQuery = z.strictObject({
  seq: z.coerce.number().int().min(1).optional().describe('with hash: compare this entry with a witness\'s checkpoint'),
  hash: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 hex digits').optional(),
}).refine((q) => (q.seq === undefined) === (q.hash === undefined), { message: 'seq and hash go together', path: ['hash'] });

export const AuditVerifyResponse = z.object({
  ok: z.boolean(),
  entries: z.int(),
  unchained: z.int(),
  head: z.object({ seq: z.int(), hash: z.string(), id: z.string() }).optional(),
  broken: z.object({ id: z.string(), seq: z.int().optional(), reason: z.string() }).optional(),
  checkpoint: z.object({ ok: z.boolean(), detail: z.string() }).optional(),
  message: z.string(),
});

export const EvidenceResponse = z.object({
  operation: z.string(),
  files: z.record(z.string(), z.string()).describe('relative file name -> content; manifest.json lists the SHA-256 of every other file'),
});
