import {
  LeaseLostError,
  settleOperation,
  type AuditLog,
  type Config,
  type Logger,
  type Metrics,
  type NewAuditEntry,
  type Operation,
  type OperationEvidence,
  type RateLimitedLog,
  type SiteStatus,
  type StateStore,
} from '@portal-failover/shared';
import { executeOperation, StaleWriteError } from './executor';
import type { Lease, LeaseHold } from './lease';
import type { PortalRuntime } from './portal-runtime';

/** What a new operation is made of; the runner adds its status, fence, steps and resume count. */
export type OperationFields = Omit<Operation, 'status' | 'fence' | 'resumedCount' | 'steps'>;

export interface OperationRunnerDeps {
  controller: Config['controller'];
  store: StateStore;
  lease: Lease;
  audit: AuditLog;
  metrics: Metrics;
  log: Logger;
  warn: RateLimitedLog;
  now: () => number;
  /** After an operation ended and was settled into the state: evaluate and save (controller.ts). */
  settled: (rt: PortalRuntime, op: Operation) => Promise<void>;
  /** An operation reached succeeded, failed or rejected. */
  announce: (op: Operation) => void;
  /** A run found its hold gone: step down if that hold is still the current one. */
  leaseLost: (why: string, hold: LeaseHold) => Promise<void>;
}

/**
 * The operation lifecycle: one way to make an operation (newOperation), one place that records it as started
 * (begin), resume after a takeover, execution of its steps off the caller's path (executor.ts), and settling the
 * outcome into the portal's state with its metrics and audit entry. At most one executor per operation per process.
 */
export class OperationRunner {
  private readonly running = new Map<string, Promise<void>>();

  constructor(private readonly d: OperationRunnerDeps) {}

  isRunning(id: string): boolean {
    return this.running.has(id);
  }

  newOperation(rt: PortalRuntime, fields: OperationFields, hold: LeaseHold): Operation {
    return {
      ...fields,
      status: 'running',
      fence: hold.token,
      resumedCount: 0,
      steps: rt.providers.map((p, index) => ({ index, kind: p.kind, label: p.label, status: 'pending', attempts: 0 })),
    };
  }

  /**
   * Starts a new operation: `save` records it (with the state that marks it in flight) under the fence; only once
   * it is on record is it audited as started and executed. Not recorded means not allowed to act: `save` returns
   * false and puts the state back, and the next evaluation (or leader) decides again. Resolves with whether it was
   * recorded; the steps run on after that.
   */
  begin(rt: PortalRuntime, op: Operation, hold: LeaseHold, save: () => Promise<boolean>, decision: string): Promise<boolean> {
    let recorded: (ok: boolean) => void = () => undefined;
    const saved = new Promise<boolean>((resolve) => (recorded = resolve));
    const launched = this.launch(rt, op, hold, async () => {
      const ok = await save().catch((err: unknown) => {
        recorded(false);
        throw err;
      });
      recorded(ok);
      if (ok) {
        this.record({
          type: 'operation.started',
          portal: op.portal,
          actor: op.actor,
          client: op.client,
          reason: op.reason,
          operation: op.id,
          data: { from: op.from, to: op.to, trigger: op.trigger, force: op.force ?? false, fence: op.fence, decision, evidence: op.evidence },
        });
      }
      return ok;
    });
    if (!launched) recorded(false);
    return saved;
  }

  /** Takes over the operation the state marks in flight, left by a previous leader (or a run of this process that crashed). */
  async resume(rt: PortalRuntime, hold: LeaseHold): Promise<void> {
    const id = rt.state.inflight!.operationId;
    const op = await this.d.store.loadOperation(id);
    if (!op) {
      // Never stored, or Redis lost it mid-switch: its steps may or may not have been applied, so where traffic
      // goes is not known from memory any more. The reconciliation that follows reads it from the providers.
      this.d.log.error(`operation ${id} is marked in flight but its record is missing; clearing it and reading the traffic steps`, { portal: rt.model.id });
      rt.state = { ...rt.state, inflight: undefined, unknownRouting: `operation ${id} was in flight and its record is missing` };
      return;
    }
    if (op.status !== 'running') {
      this.finish(rt, op);
      return;
    }
    // The run this process started under an earlier hold stops at its next fence check (its token is stale);
    // wait for it, so one operation never has two executors here.
    const earlier = this.running.get(op.id);
    if (earlier) await earlier;
    op.resumedCount++;
    op.fence = hold.token;
    this.d.log.warn(`resuming operation ${op.id} (${op.from} -> ${op.to}) left running by a previous leader`, { portal: rt.model.id });
    this.launch(rt, op, hold);
  }

  /**
   * No portal stays failing_over with nothing running: an operation in flight in the state that no task of this
   * leader runs (its task crashed on a Redis error, or the resume at takeover could not read it) is resumed.
   */
  async resumeOrphans(portals: Iterable<PortalRuntime>, hold: LeaseHold): Promise<void> {
    for (const rt of portals) {
      const id = rt.state.inflight?.operationId;
      if (id === undefined || this.running.has(id)) continue;
      try {
        await this.resume(rt, hold);
      } catch (err) {
        this.d.warn.warn(`orphan:${id}`, `cannot resume operation ${id} yet: ${(err as Error).message}`, { portal: rt.model.id });
      }
    }
  }

  /** Lets running operations finish and record their result, for at most `ms` (a stuck provider call must not hold a shutdown). */
  async settle(ms: number): Promise<void> {
    await Promise.race([Promise.allSettled([...this.running.values()]), new Promise((r) => setTimeout(r, ms).unref())]);
  }

  /** Settles an ended (or refused) operation into the state, counts it, logs and audits it. */
  finish(rt: PortalRuntime, op: Operation): void {
    rt.state = settleOperation(rt.state, { operationId: op.id, to: op.to, ok: op.status === 'succeeded' });
    const m = this.d.metrics;
    m.switchovers.inc({ portal: op.portal, from: op.from, to: op.to, trigger: op.trigger, result: op.status === 'succeeded' ? 'success' : op.status === 'rejected' ? 'rejected' : 'failed' });
    if (op.status === 'succeeded' && op.finishedAt) {
      m.switchDuration.observe({ portal: op.portal, trigger: op.trigger }, Math.max(0, op.finishedAt - op.decidedAt) / 1000);
      m.lastSwitch.set({ portal: op.portal }, op.finishedAt / 1000);
      for (const st of op.steps) {
        for (const s of st.propagation?.servers ?? []) {
          if (s.role !== 'authoritative') continue;
          if (s.propagated) m.propagation.observe({ portal: op.portal, server: s.server }, (s.afterMs ?? 0) / 1000);
          else m.propagationLagging.inc({ portal: op.portal, server: s.server });
        }
      }
    }
    const msg = op.status === 'succeeded' ? `switched ${op.from} -> ${op.to}, verified` : `switch ${op.from} -> ${op.to} ${op.status === 'rejected' ? 'rejected' : 'failed'}: ${op.error}`;
    this.d.log[op.status === 'succeeded' ? 'info' : 'error'](msg, { portal: op.portal, operation: op.id, trigger: op.trigger });
    const steps = op.steps.map((st) => ({
      step: st.index + 1,
      provider: st.label,
      status: st.status,
      attempts: st.attempts,
      change: st.plan?.description,
      request: st.plan?.request,
      verified: st.verified,
      error: st.error,
      ms: st.startedAt !== undefined && st.finishedAt !== undefined ? st.finishedAt - st.startedAt : undefined,
      propagation: st.propagation,
    }));
    this.record({
      type: 'operation.finished',
      portal: op.portal,
      actor: op.actor,
      reason: op.reason,
      operation: op.id,
      data: {
        result: op.status,
        error: op.error,
        from: op.from,
        to: op.to,
        trigger: op.trigger,
        force: op.force ?? false,
        durationsMs: {
          detect: op.detectedAt !== undefined ? op.decidedAt - op.detectedAt : undefined,
          queued: op.requestedAt !== undefined ? op.decidedAt - op.requestedAt : undefined,
          switch: op.finishedAt !== undefined ? op.finishedAt - op.decidedAt : undefined,
        },
        steps,
      },
    });
    this.d.announce(op);
  }

  /** Audit writes never block or fail an operation; a lost entry is logged instead. */
  record(entry: NewAuditEntry): void {
    this.d.audit.append(entry).catch((err: Error) => this.d.warn.warn('audit', `cannot write audit entry ${entry.type}: ${err.message}`));
  }

  /** Runs the steps in the background; `before` (a new operation's save) gates them. False when one already runs. */
  private launch(rt: PortalRuntime, op: Operation, hold: LeaseHold, before?: () => Promise<boolean>): boolean {
    if (this.running.has(op.id)) {
      this.d.log.error(`operation ${op.id} already has an executor in this process; not starting a second one`, { portal: op.portal });
      return false;
    }
    const run = (async () => {
      try {
        if (before && !(await before())) return;
        // A risk window's TTL change writes the same records: the switch waits for it (it is bounded by the
        // provider timeouts) and then writes with the TTL it left (rt.providers follows state.ttlLowered).
        await rt.ttlChange?.catch(() => undefined);
        const c = this.d.controller;
        const done = await executeOperation(op, rt.providers, rt.sites.get(op.to)!, this.d.lease.guard(hold), {
          attempts: c.stepAttempts,
          backoffMs: c.stepBackoff,
          logger: this.d.log,
          save: (o) => this.saveUntilLeaseEnds(hold, o),
          now: this.d.now,
          rollbackTo: rt.rollbackOnFailure ? rt.sites.get(op.from) : undefined,
          hooks: rt.hooks,
        });
        this.finish(rt, done);
        await this.d.settled(rt, done);
      } catch (err) {
        if (err instanceof LeaseLostError) {
          this.d.log.warn(`operation ${op.id} interrupted: ${err.message}; the next leader resumes it`, { portal: op.portal });
          if (err instanceof StaleWriteError) {
            this.record({ type: 'operation.interrupted', portal: op.portal, actor: op.actor, operation: op.id, reason: err.message, data: { fence: hold.token, step: err.step, write: err.plan.description, request: err.plan.request, mayHaveLanded: true } });
          }
          // Only the hold this run started under steps down: a newer hold of this process is not this run's to end.
          await this.d.leaseLost(err.message, hold);
        } else {
          this.d.log.error(`operation ${op.id} crashed: ${(err as Error).message}`, { portal: op.portal });
        }
      } finally {
        this.running.delete(op.id);
      }
    })();
    this.running.set(op.id, run);
    return true;
  }

  /**
   * Saves an operation's progress, retrying through Redis errors for as long as this hold is valid: a Redis blip
   * in the middle of a switch delays it instead of abandoning it half-done (it is never executed without its
   * progress on record). Once the hold's validity ends it gives up with LeaseLostError, and whoever leads next
   * resumes the operation from what was saved.
   */
  private async saveUntilLeaseEnds(hold: LeaseHold, op: Operation): Promise<void> {
    for (;;) {
      if (this.d.lease.current?.value !== hold.value) throw new LeaseLostError(`lease with fencing token ${hold.token} is no longer held; operation ${op.id} not saved`);
      try {
        await this.d.store.fencedWrite(hold.value, { operation: op });
        return;
      } catch (err) {
        if (err instanceof LeaseLostError) throw err;
        this.d.warn.warn(`save:${op.id}`, `cannot save operation ${op.id}, retrying: ${(err as Error).message}`, { portal: op.portal });
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }
}

/** What the decision saw, kept with the operation: per site, each vantage's verdict and the failing check's detail. */
export function evidenceOf(analysis: string, statuses: Record<string, SiteStatus>): OperationEvidence {
  const sites: OperationEvidence['sites'] = {};
  for (const [name, st] of Object.entries(statuses)) {
    sites[name] = { status: st.status, vantages: st.vantages.map((v) => ({ vantage: v.vantage, verdict: v.verdict, failingSince: v.failingSince, detail: v.detail })) };
  }
  return { analysis, sites };
}
