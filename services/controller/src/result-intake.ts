import { Worker, type ConnectionOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { RESULTS_QUEUE, resultsOf, type CheckResult, type Config, type Metrics, type RateLimitedLog } from '@portal-failover/shared';
import type { PortalRuntime } from './portal-runtime';
import { ResultAdmission } from './result-admission';
import { parseCheckResult } from './result-validation';

export interface ResultIntakeDeps {
  config: Config;
  redis: Redis;
  connection: ConnectionOptions;
  prefix: string;
  portals: ReadonlyMap<string, PortalRuntime>;
  metrics: Metrics;
  warn: RateLimitedLog;
  now: () => number;
  /** A well-formed, admitted result for a configured portal and site. */
  accept: (rt: PortalRuntime, r: CheckResult) => void;
}

/**
 * Consumes the results queue while leading. Malformed results, results refused by admission (undeclared vantage,
 * bad signature, replayed, ...) and results for unknown portals or sites are counted or logged (rate-limited) and
 * dropped; nothing a checker sends reaches the state unchecked.
 */
export class ResultIntake {
  private worker: Worker | undefined;
  private admission: ResultAdmission | undefined;

  constructor(private readonly d: ResultIntakeDeps) {}

  /** The vantage keys (the implied one lives in Redis), loaded once before the first result is taken. */
  async prepare(): Promise<void> {
    this.admission ??= await ResultAdmission.forConfig(this.d.config, this.d.redis);
  }

  start(): void {
    this.worker = new Worker(RESULTS_QUEUE, async (job) => {
      // A job carries a batch of results (one per checker flush window) or, from an older checker, one result.
      for (const r of resultsOf(job.data)) this.take(r);
    }, {
      connection: this.d.connection,
      prefix: this.d.prefix,
      concurrency: 8,
      autorun: true,
      removeOnComplete: { count: 0 },
      removeOnFail: { count: 1000 },
    });
    this.worker.on('error', (err) => this.d.warn.warn('worker', `results worker error: ${err.message}`));
  }

  async stop(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    // close(true) does not wait for active jobs: their effect on memory is discarded anyway. It still talks to
    // Redis, so it is bounded: a paused Redis must not hold up the lease loop behind it.
    await Promise.race([w?.close(true).catch(() => undefined), new Promise((r) => setTimeout(r, 1_000).unref())]);
  }

  private take(data: unknown): void {
    const { metrics, warn } = this.d;
    const parsed = parseCheckResult(data);
    if (typeof parsed === 'string') {
      metrics.resultsRejected.inc({ reason: 'malformed' });
      warn.warn('bad-result', `ignoring malformed check result: ${parsed}`);
      return;
    }
    // Only declared vantages vote, each only with its own key, each result once (result-admission.ts).
    const admitted = this.admission?.admit(parsed, this.d.now());
    if (!admitted?.ok) {
      const reason = admitted?.reason ?? 'undeclared_vantage';
      metrics.resultsRejected.inc({ reason });
      warn.warn(`rejected:${reason}:${parsed.vantage}`, `refused check result: ${admitted?.detail ?? 'no vantage keys loaded'}`);
      return;
    }
    const r = admitted.result;
    const rt = this.d.portals.get(r.portal);
    if (!rt || !rt.sites.has(r.site)) {
      warn.warn(`unknown:${r.portal}/${r.site}`, `ignoring result for unknown portal/site ${r.portal}/${r.site}`);
      return;
    }
    this.d.accept(rt, r);
  }
}
