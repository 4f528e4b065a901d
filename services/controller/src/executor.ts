import {
  LeaseLostError,
  runHooks,
  type SwitchHook,
  ProviderError,
  type FenceGuard,
  type Logger,
  type ProviderContext,
  type StepPlan,
  type Operation,
  type TargetSite,
  type TrafficProvider,
} from '@portal-failover/shared';
import { failpoint } from './failpoint';
import { PropagationWatches } from './propagation-watches';

export interface ExecutorOptions {
  attempts: number;
  backoffMs: number;
  logger: Logger;
  /** Persists the operation after each step transition (fenced). */
  save: (op: Operation) => Promise<void>;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  /** When set, a failed step puts the steps already applied back on this site (the one traffic came from). */
  rollbackTo?: TargetSite;
  hooks?: { preSwitch: SwitchHook[]; postSwitch: SwitchHook[] };
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * The abort signal of one provider call: it fires at the lease's deadline (the holder's own conservative view of
 * its validity, which already keeps a margin below the TTL Redis enforces), so a call never outlives the lease
 * it was started under, however long the provider's own timeout or an SDK's retries would wait.
 */
function leaseSignal(fence: FenceGuard, now: () => number): AbortSignal | undefined {
  if (!fence.deadline) return undefined;
  const left = fence.deadline() - now();
  if (left <= 0) throw new LeaseLostError(`lease with fencing token ${fence.token} expired before the provider call`);
  return AbortSignal.timeout(left);
}

/**
 * Applies one plan under the lease and re-checks the lease after the write: a write that was on the wire when the
 * lease ran out may have landed after a successor took over, and that is reported (the error names the step), so
 * the audit and the next leader's read-back of every step can see it rather than trust memory.
 */
export async function fencedApply(provider: TrafficProvider, plan: StepPlan, fence: FenceGuard, now: () => number, ctx: Omit<ProviderContext, 'fence' | 'signal'>): Promise<void> {
  const signal = leaseSignal(fence, now);
  // The last moment before the write: a pause here (FAILOVER_FAILPOINTS=before-write:stop) is the one the lease
  // signal and the provider's own lease check must catch when the process runs again.
  if (plan.changes) failpoint('before-write');
  try {
    await provider.apply(plan, { ...ctx, fence, signal });
  } catch (err) {
    if (err instanceof LeaseLostError) throw err;
    if (signal?.aborted) throw new StaleWriteError(provider.label, plan, 'aborted at the lease deadline');
    // The call's own timeout (or a reset) can fire before the lease signal when both expired during a pause: the
    // request may still have reached the provider, and with the lease gone that write is as stale as an aborted
    // one. A final refusal (the provider answered no) changed nothing and stays what it is.
    const outcomeUnknown = !(err instanceof ProviderError) || err.retryable;
    if (outcomeUnknown && fence.deadline && fence.deadline() <= now()) throw new StaleWriteError(provider.label, plan, `${message(err)}; the lease deadline has passed`);
    throw err;
  }
  try {
    await fence.assertHeld();
  } catch (err) {
    if (err instanceof LeaseLostError) throw new StaleWriteError(provider.label, plan, err.message);
    throw err;
  }
}

/** The lease was lost while a write was in flight: it may have reached the provider after a newer leader acted. */
export class StaleWriteError extends LeaseLostError {
  constructor(
    readonly step: string,
    readonly plan: StepPlan,
    why: string,
  ) {
    super(`lease lost while writing ${step} (${why}): the write "${plan.description}" may have landed after a newer leader took over`);
    this.name = 'StaleWriteError';
  }
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
  const hookCtx = { portal: op.portal, operationId: op.id, from: op.from, to: op.to, trigger: op.trigger, reason: op.reason };
  if (!op.preHooksPassed && opts.hooks?.preSwitch.length) {
    await fence.assertHeld();
    const results = await runHooks(opts.hooks.preSwitch, { ...hookCtx, phase: 'pre' }, true);
    op.hooks = [...(op.hooks ?? []), ...results.map((r) => ({ phase: 'pre' as const, ...r }))];
    const veto = results.find((r) => !r.ok);
    if (veto) {
      op.status = 'rejected';
      op.error = `vetoed by pre-switch hook "${veto.hook}": ${veto.detail}`;
      op.finishedAt = now();
      log.warn(op.error);
      await opts.save(op);
      return op;
    }
    op.preHooksPassed = true;
    await opts.save(op);
  }
  // Ends the operation as failed at `step`: rolls the applied steps back (saving after each, so a leader that
  // resumes it continues the rollback instead of starting over) and records the outcome.
  const fail = async (step: Operation['steps'][number], provider: TrafficProvider): Promise<Operation> => {
    propagation.stop();
    op.status = 'failed';
    op.error = `step ${step.index + 1} (${provider.label}) failed after ${step.attempts} attempt(s): ${step.error}`;
    const applied = op.steps.filter((x) => x.status === 'verified' || x.status === 'rolled_back' || x.status === 'rollback_failed');
    if (applied.length) {
      if (opts.rollbackTo) await rollBack(op, providers, opts.rollbackTo, fence, log, now, opts.save);
      op.error += `; applied before it: ${applied.map((x) => `step ${x.index + 1} (${providers[x.index].label}) ${x.status === 'rolled_back' ? 'rolled back' : x.status === 'rollback_failed' ? 'ROLLBACK FAILED' : 'left in place'}`).join(', ')}`;
    }
    op.finishedAt = now();
    log.error(op.error);
    await opts.save(op);
    return op;
  };
  // DNS steps' propagation checks run beside the later steps and are awaited before the operation ends; a failed
  // or deposed run stops them (what they saw then no longer describes the switch).
  const propagation = new PropagationWatches(log);
  // Resumed after a step had already failed (the previous leader died during the rollback): finish the failure.
  const alreadyFailed = op.steps.find((x) => x.status === 'failed');
  if (alreadyFailed) return fail(alreadyFailed, providers[alreadyFailed.index]);
  for (const step of op.steps) {
    if (step.status === 'verified') {
      // Verified by a leader that lost its lease before the step's propagation check ended: this leader checks it,
      // timed from when that leader verified the step (the old TTL is no longer known here).
      if (op.resumedCount > 0 && !step.propagation) propagation.start(step, providers[step.index], target, { at: step.finishedAt ?? now() });
      continue;
    }
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
        await fencedApply(provider, plan, fence, now, { logger: log, operation: { id: op.id, portal: op.portal, from: op.from } });
        const applied = { at: now(), oldTtl: current.ttl };
        failpoint('after-apply');
        const verified = await provider.verify(target);
        if (!verified.ok) throw new ProviderError(`verify failed: ${verified.detail}`, true);
        step.status = 'verified';
        step.verified = verified.detail;
        step.error = undefined;
        step.finishedAt = now();
        log.info(`step ${step.index + 1}/${op.steps.length} ${provider.label} verified: ${verified.detail}`);
        await opts.save(op);
        propagation.start(step, provider, target, applied);
        break;
      } catch (err) {
        if (err instanceof LeaseLostError) {
          propagation.stop();
          throw err;
        }
        const retryable = err instanceof ProviderError ? err.retryable : true;
        step.error = message(err);
        if (!retryable || step.attempts >= opts.attempts) {
          step.status = 'failed';
          step.finishedAt = now();
          await opts.save(op);
          return fail(step, provider);
        }
        const wait = opts.backoffMs * 2 ** (step.attempts - 1);
        log.warn(`step ${step.index + 1} ${provider.label} attempt ${step.attempts} failed, retrying in ${wait}ms: ${step.error}`);
        await sleep(wait);
      }
    }
  }
  // The switch ended when its last step verified; the propagation wait after it is reported, not timed as the switch.
  const verifiedAt = now();
  await propagation.settle();
  op.status = 'succeeded';
  op.finishedAt = verifiedAt;
  if (opts.hooks?.postSwitch.length) {
    // Post-switch hooks report (tickets, chat, CDN purges); their failure does not undo a verified switch.
    const results = await runHooks(opts.hooks.postSwitch, { ...hookCtx, phase: 'post' }, false);
    op.hooks = [...(op.hooks ?? []), ...results.map((r) => ({ phase: 'post' as const, ...r }))];
    for (const r of results.filter((x) => !x.ok)) log.warn(`post-switch hook "${r.hook}" failed: ${r.detail}`);
  }
  return op;
}

/** Puts every applied step back on `site`, newest first; a step that cannot be undone is marked, not hidden. */
async function rollBack(
  op: Operation,
  providers: TrafficProvider[],
  site: TargetSite,
  fence: FenceGuard,
  log: Logger,
  now: () => number,
  save: (op: Operation) => Promise<void>,
): Promise<void> {
  for (const step of [...op.steps].reverse()) {
    if (step.status !== 'verified') continue;
    const provider = providers[step.index];
    try {
      await fence.assertHeld();
      const plan = provider.plan(await provider.read(), site);
      await fencedApply(provider, plan, fence, now, { logger: log, operation: { id: op.id, portal: op.portal, from: op.to } });
      const v = await provider.verify(site);
      if (!v.ok) throw new ProviderError(`rollback verify failed: ${v.detail}`, false);
      step.status = 'rolled_back';
      step.verified = `rolled back to ${site.name}: ${v.detail}`;
    } catch (err) {
      if (err instanceof LeaseLostError) throw err;
      step.status = 'rollback_failed';
      step.error = `rollback to ${site.name} failed: ${message(err)}`;
    }
    step.finishedAt = now();
    // Progress per step: a leader that resumes this operation does not undo the same step twice.
    await save(op);
  }
}
