import {
  decide,
  LeaseLostError,
  settleOperation,
  type Decision,
  type Logger,
  type Metrics,
  type Operation,
  type PortalState,
  type RateLimitedLog,
  type StateStore,
  type SwitchAction,
} from '@portal-failover/shared';
import type { LeaseHold } from './lease';
import { evidenceOf, type OperationRunner } from './operation-runner';
import type { PortalRuntime } from './portal-runtime';
import { publishPortal } from './publish';

export interface EvaluationDeps {
  leader: { readonly current: LeaseHold | undefined; stepDown(why: string): Promise<void> };
  store: StateStore;
  runner: OperationRunner;
  metrics: Metrics;
  log: Logger;
  warn: RateLimitedLog;
  now: () => number;
  actor: () => string;
  /** A decision whose analysis, phase or reason changed (or that acts). */
  decided: (portal: string, d: Decision) => void;
}

/** Two states with the same top-level values (by identity: states and their parts are replaced, never edited). */
function sameFields(a: PortalState, b: PortalState): boolean {
  if (a === b) return true;
  const ak = Object.keys(a) as (keyof PortalState)[];
  if (ak.length !== Object.keys(b).length) return false;
  for (const k of ak) if (a[k] !== b[k] || !(k in b)) return false;
  return true;
}

/** Runs the pure decision on a portal's state for the leader, starts the switches it asks for, and saves the state. */
export class Evaluation {
  constructor(private readonly d: EvaluationDeps) {}

  /** decide() on the current state: publishes, logs a changed decision once, starts the switch it asks for. */
  evaluate(rt: PortalRuntime): Decision | undefined {
    const hold = this.d.leader.current;
    if (!hold) return undefined;
    const now = this.d.now();
    const d = decide(rt.state, rt.model, now);
    rt.evaluatedAt = now;
    rt.activeStatus = d.statuses[d.next.activeSite]?.status;
    // decide() always returns a new object; an unchanged one keeps the old, so persist() sees there is nothing to save.
    if (!sameFields(rt.state, d.next)) rt.state = d.next;
    publishPortal(this.d.metrics, rt, d.statuses, d.readiness);
    const logKey = `${d.analysis}|${d.phase}|${d.reason}`;
    if (logKey !== rt.lastLogged || d.actions.length) {
      rt.lastLogged = logKey;
      this.d.log.info(d.reason, { portal: rt.model.id, analysis: d.analysis, phase: d.phase });
      this.d.decided(rt.model.id, d);
    }
    for (const action of d.actions) this.startSwitch(rt, action, hold, evidenceOf(d.analysis, d.statuses));
    return d;
  }

  /** An automatic switch (decide() or a drift repair), already marked in flight in the state. */
  startSwitch(rt: PortalRuntime, action: SwitchAction, hold: LeaseHold, evidence: Operation['evidence']): void {
    const { operationId: id, portal, from, to, trigger, reason, detectedAt, decidedAt } = action;
    const op = this.d.runner.newOperation(rt, { id, portal, from, to, trigger, reason, actor: this.d.actor(), detectedAt, decidedAt, evidence }, hold);
    if (detectedAt !== undefined) this.d.metrics.detection.observe({ portal }, Math.max(0, decidedAt - detectedAt) / 1000);
    const save = async () => {
      if (await this.persist(rt, op)) return true;
      rt.state = settleOperation(rt.state, { operationId: op.id, to: op.to, ok: false });
      return false;
    };
    void this.d.runner.begin(rt, op, hold, save, reason);
  }

  /** Saves state (and an operation) under the fence; false when it could not, never throws. */
  async persist(rt: PortalRuntime, operation?: Operation): Promise<boolean> {
    const hold = this.d.leader.current;
    if (!hold) return false;
    const state = rt.state;
    if (state === rt.persistedState && !operation) return true;
    const json = JSON.stringify(state);
    if (json === rt.persisted && !operation) {
      rt.persistedState = state;
      return true;
    }
    try {
      await this.d.store.fencedWrite(hold.value, { state, stateJson: json, operation });
      rt.persisted = json;
      rt.persistedState = state;
      return true;
    } catch (err) {
      if (err instanceof LeaseLostError) await this.d.leader.stepDown(err.message);
      else this.d.warn.warn('persist', `cannot save state of ${rt.model.id}: ${(err as Error).message}`, { portal: rt.model.id });
      return false;
    }
  }
}
