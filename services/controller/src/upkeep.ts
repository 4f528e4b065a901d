import type { Queue } from 'bullmq';
import { AuditWitnessing, checkpointPrivateKey } from '@portal-failover/shared/audit';
import type { AuditLog, AvailabilityRecorder, Config, Metrics, ProbeHistory, RateLimitedLog } from '@portal-failover/shared';
import type { DrillRunner } from './drills';
import { publishResultsQueue } from './publish';

/**
 * The leader's chores after each evaluation tick: due drills, the probe history and availability buffers, the
 * audit size gauge (every 30 s), a signed checkpoint of the audit head for the witnesses (every
 * audit.checkpointEvery; delivered in the background), the results queue's counts. Each failure is logged and
 * never stops the others.
 */
export class LeaderUpkeep {
  private auditCountedAt = 0;

  constructor(
    private readonly d: {
      config: Config;
      drills: DrillRunner;
      probes: ProbeHistory;
      availability: AvailabilityRecorder;
      audit: AuditLog;
      /** Present when audit.signingKey is set; only the leader runs upkeep, so there is one signer. */
      witnessing?: AuditWitnessing;
      resultsQueue: Queue;
      metrics: Metrics;
      warn: RateLimitedLog;
      now: () => number;
    },
  ) {}

  async run(): Promise<void> {
    const { d } = this;
    if (d.config.drills.length) await d.drills.tick().catch((err: Error) => d.warn.warn('drills', `cannot start drills: ${err.message}`));
    await d.probes.flush().catch((err: Error) => d.warn.warn('probe-history', `cannot record probe results: ${err.message}`));
    await d.availability.flush(d.now()).catch((err: Error) => d.warn.warn('availability', `cannot record availability: ${err.message}`));
    if (d.now() - this.auditCountedAt >= 30_000) {
      this.auditCountedAt = d.now();
      await d.audit.count().then((n) => d.metrics.auditEntries.set(n), (err: Error) => d.warn.warn('audit-count', `cannot count audit entries: ${err.message}`));
    }
    if (d.witnessing) await d.witnessing.maybeCheckpoint().catch((err: Error) => d.warn.warn('audit-checkpoint', `cannot sign an audit checkpoint: ${err.message}`));
    await publishResultsQueue(d.metrics, d.resultsQueue, d.warn);
  }
}

/** The checkpoint signer the config asks for (audit.signingKey and audit.witnesses), or undefined without one. */
export function auditWitnessing(d: { config: Config; audit: AuditLog; metrics: Metrics; warn: RateLimitedLog; now: () => number }): AuditWitnessing | undefined {
  const a = d.config.audit;
  if (!a.signingKey) return undefined;
  const key = checkpointPrivateKey(a.signingKey.reveal());
  // The schema already refused a bad key; this names the reference only, never the key.
  if (!key.ok) throw new Error(`audit.signingKey: ${a.signingKey.source} ${key.error}`);
  return new AuditWitnessing(
    {
      key: key.key,
      witnesses: a.witnesses,
      head: () => d.audit.head(),
      failed: (witness) => d.metrics.auditWitnessFailures.inc({ witness }),
      warn: (witness, message) => d.warn.warn(`audit-witness:${witness}`, message),
      now: d.now,
    },
    a.checkpointEvery,
  );
}
