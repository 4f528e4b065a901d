import { propagationLines, type Logger, type Operation, type TargetSite, type TrafficProvider } from '@portal-failover/shared';

type Step = Operation['steps'][number];

/**
 * The propagation checks of one operation's DNS steps. A check starts once its step is verified and runs while the
 * later steps are applied; the operation waits for all of them before it ends, and each writes its result into its
 * step. A nameserver that lags is logged as a warning and never fails the switch.
 */
export class PropagationWatches {
  private readonly running: Promise<void>[] = [];
  private readonly abort = new AbortController();

  constructor(private readonly log: Logger) {}

  start(step: Step, provider: TrafficProvider, target: TargetSite, applied: { at: number; oldTtl?: number }): void {
    if (!provider.propagation) return;
    const label = `step ${step.index + 1} ${provider.label}`;
    const run = provider.propagation(target, applied, this.abort.signal).then(
      (p) => {
        if (this.abort.signal.aborted) return;
        step.propagation = p;
        const lagging = p.servers.filter((s) => !s.propagated);
        const text = `${label} propagation: ${propagationLines(p).join('; ')}`;
        if (lagging.length || p.error) this.log.warn(text);
        else this.log.info(text);
      },
      // propagation() reports servers' failures in its result; anything thrown is a defect, logged, never fatal.
      (err: unknown) => {
        this.log.warn(`${label} propagation check failed: ${err instanceof Error ? err.message : String(err)}`);
      },
    );
    this.running.push(run);
  }

  settle(): Promise<unknown> {
    return Promise.all(this.running);
  }

  stop(): void {
    this.abort.abort();
  }
}
