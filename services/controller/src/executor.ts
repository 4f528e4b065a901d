import {
  LeaseLostError,
  ProviderError,
  type FenceGuard,
  type Logger,
  type Operation,
  type TargetSite,
  type TrafficProvider,
} from '@portal-failover/shared';
import { failpoint } from './failpoint';

export interface ExecutorOptions {
  attempts: number;
  backoffMs: number;
  logger: Logger;
  /** Persists the operation after each step transition (fenced). */
  save: (op: Operation) => Promise<void>;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Runs an operation's steps in order: read, plan, apply, verify each, skipping steps already verified (a resumed
 * operation picks up where the crashed one stopped; plan() makes a re-applied step a no-op when it already holds).
 * Throws LeaseLostError untouched so a deposed leader stops at once and its successor resumes.
 */
export async function executeOperation(
  op: Operation,
  providers: TrafficProvider[],
  target: TargetSite,
  fence: FenceGuard,
  opts: ExecutorOptions,
): Promise<Operation> {
  const sleep = opts.sleep ?? defaultSleep;
  const now = opts.now ?? Date.now;
  const log = opts.logger.child({ portal: op.portal, operation: op.id });
  for (const step of op.steps) {
    if (step.status === 'verified') continue;
    const provider = providers[step.index];
    for (;;) {
      step.status = 'applying';
      step.attempts++;
      step.startedAt ??= now();
      await opts.save(op);
      try {
        await fence.assertHeld();
        const current = await provider.read();
        const plan = provider.plan(current, target);
        step.plan = { changes: plan.changes, description: plan.description, request: plan.request };
        await provider.apply(plan, { fence, logger: log, operation: { id: op.id, portal: op.portal, from: op.from } });
        failpoint('after-apply');
        const verified = await provider.verify(target);
        if (!verified.ok) throw new ProviderError(`verify failed: ${verified.detail}`, true);
        step.status = 'verified';
        step.verified = verified.detail;
        step.error = undefined;
        step.finishedAt = now();
        log.info(`step ${step.index + 1}/${op.steps.length} ${provider.label} verified: ${verified.detail}`);
        await opts.save(op);
        break;
      } catch (err) {
        if (err instanceof LeaseLostError) throw err;
        const retryable = err instanceof ProviderError ? err.retryable : true;
        step.error = message(err);
        if (!retryable || step.attempts >= opts.attempts) {
          step.status = 'failed';
          step.finishedAt = now();
          op.status = 'failed';
          op.error = `step ${step.index + 1} (${provider.label}) failed after ${step.attempts} attempt(s): ${step.error}`;
          op.finishedAt = now();
          log.error(op.error);
          await opts.save(op);
          return op;
        }
        const wait = opts.backoffMs * 2 ** (step.attempts - 1);
        log.warn(`step ${step.index + 1} ${provider.label} attempt ${step.attempts} failed, retrying in ${wait}ms: ${step.error}`);
        await sleep(wait);
      }
    }
  }
  op.status = 'succeeded';
  op.finishedAt = now();
  return op;
}
