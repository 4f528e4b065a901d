import type { Redis } from 'ioredis';
import { AuditLog, CaptureStore, ProbeHistory, sha256Hex, type Config, type Operation } from '@portal-failover/shared';

/**
 * The evidence bundle of one operation: everything needed to show, later and to someone outside, what was probed,
 * what the failing site answered, what was decided and by whom, and what each traffic step changed. Files are
 * text; `manifest.json` lists each file's SHA-256 and the audit chain head at export time, so `evidence verify`
 * can tell whether any file was changed afterwards.
 */
export interface EvidenceBundle {
  operation: string;
  files: Record<string, string>;
}

export interface Manifest {
  format: 'portal-failover-evidence/1';
  operation: string;
  portal: string;
  createdAt: string;
  chainHead: { seq: number; hash: string; id: string } | null;
  files: { name: string; sha256: string; bytes: number }[];
}

const SECRETISH = /(secret|password|token|apikey|api_key|authorization)/i;
const json = (v: unknown) => `${JSON.stringify(v, (k, val: unknown) => (k && SECRETISH.test(k) ? '[redacted]' : val), 2)}\n`;
const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

/** Probes this long before the first failure and after the switch are "around the cut". */
const AROUND_MS = 2 * 60_000;

export async function buildEvidenceBundle(config: Config, redis: Redis, audit: AuditLog, op: Operation, now: number): Promise<EvidenceBundle> {
  const start = (op.detectedAt ?? op.requestedAt ?? op.decidedAt) - AROUND_MS;
  const end = (op.finishedAt ?? now) + AROUND_MS;
  const [probes, captures, auditPage, head] = await Promise.all([
    new ProbeHistory(redis, config.redis.prefix).between(op.portal, start, end),
    new CaptureStore(redis, config.redis.prefix, config.evidence.retention).between(op.portal, start - 10 * 60_000, end),
    audit.query({ portal: op.portal, since: start - 10 * 60_000, limit: 1000 }),
    audit.head(),
  ]);
  const entries = auditPage.entries.filter((e) => e.operation === op.id);
  const files: Record<string, string> = {};
  const decided = op.evidence ? ` (analysis ${op.evidence.analysis})` : '';
  files['decision.txt'] =
    `${op.reason}${decided}\n` +
    `operation ${op.id}: ${op.from} -> ${op.to}, trigger ${op.trigger}, result ${op.status}${op.error ? `: ${op.error}` : ''}\n`;
  files['operation.json'] = json(op);
  files['timings.json'] = json({
    firstFailureAt: iso(op.detectedAt),
    requestedAt: iso(op.requestedAt),
    decidedAt: iso(op.decidedAt),
    finishedAt: iso(op.finishedAt),
    detectMs: op.detectedAt !== undefined ? op.decidedAt - op.detectedAt : undefined,
    queuedMs: op.requestedAt !== undefined ? op.decidedAt - op.requestedAt : undefined,
    switchMs: op.finishedAt !== undefined ? op.finishedAt - op.decidedAt : undefined,
    steps: op.steps.map((s) => ({
      step: s.index + 1,
      provider: s.label,
      kind: s.kind,
      status: s.status,
      attempts: s.attempts,
      change: s.plan?.description,
      request: s.plan?.request,
      changed: s.plan?.changes,
      verifiedAnswer: s.verified,
      error: s.error,
      startedAt: iso(s.startedAt),
      finishedAt: iso(s.finishedAt),
      ms: s.startedAt !== undefined && s.finishedAt !== undefined ? s.finishedAt - s.startedAt : undefined,
    })),
  });
  files['probes.json'] = json({ from: iso(start), to: iso(end), results: probes.map((p) => ({ ...p, at: iso(p.at) })) });
  captures.forEach((c, i) => {
    files[`captures/${String(i + 1).padStart(2, '0')}-${c.site}-${c.check}-${c.vantage}.json`] = json({ ...c, at: iso(c.at) });
  });
  const actors = new Map<string, { actor: string; client?: string; did: string[] }>();
  for (const e of [{ actor: op.actor, client: op.client, type: `operation (${op.trigger})`, reason: op.reason }, ...entries]) {
    const a = actors.get(e.actor) ?? { actor: e.actor, client: e.client, did: [] };
    a.did.push(`${e.type}${e.reason ? `: ${e.reason}` : ''}`);
    actors.set(e.actor, a);
  }
  files['actors.json'] = json([...actors.values()]);
  files['audit.json'] = json(entries);
  const manifest: Manifest = {
    format: 'portal-failover-evidence/1',
    operation: op.id,
    portal: op.portal,
    createdAt: new Date(now).toISOString(),
    chainHead: head ?? null,
    files: Object.entries(files).map(([name, text]) => ({ name, sha256: sha256Hex(text), bytes: Buffer.byteLength(text) })),
  };
  files['manifest.json'] = json(manifest);
  return { operation: op.id, files };
}
