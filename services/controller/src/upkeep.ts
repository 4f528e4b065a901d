import type { Queue } from 'bullmq';
import type { AuditLog, AvailabilityRecorder, Config, Metrics, ProbeHistory, RateLimitedLog } from '@portal-failover/shared';
import type { DrillRunner } from './drills';
import { publishResultsQueue } from './publish';

/**
 * The leader's chores after each evaluation tick: due drills, the probe history and availability buffers, the
 * audit size gauge (every 30 s), the results queue's counts. Each failure is logged and never stops the others.
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
    await publishResultsQueue(d.metrics, d.resultsQueue, d.warn);
  }
}
