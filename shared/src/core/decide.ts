import { ANALYSIS_TABLE, classify, type Analysis } from './classify';
import { cooldownUntil } from './cooldown';
import { describeSite as describe, iso } from './describe';
import { overlayPhase } from './phase';
import { preconditions, refusal, type SwitchRequest } from './preconditions';
import type { SiteStatus } from './health';
import type { Readiness } from './readiness';
import type { Phase, PortalModel, PortalState, Trigger } from './state';

export interface SwitchAction {
  type: 'switch';
  operationId: string;
  portal: string;
  from: string;
  to: string;
  trigger: Trigger;
  reason: string;
  /** First failed probe of the streak that led here (auto failover only). */
  detectedAt?: number;
  decidedAt: number;
}

export interface Decision {
  next: PortalState;
  actions: SwitchAction[];
  analysis: Analysis;
  phase: Phase;
  /** One human sentence, logged once per decision and stored with every operation. */
  reason: string;
  statuses: Record<string, SiteStatus>;
  readiness: Record<string, Readiness>;
}

/** Deterministic so that the same decision replayed after a crash names the same operation. */
export function autoOperationId(portal: string, decidedAt: number): string {
  return `${portal}-${decidedAt.toString(36)}-auto`;
}

/** Why an actionable analysis may not act now, or undefined when it may. */
function blockedBy(state: PortalState, model: PortalModel, move: 'failover' | 'failback', now: number): string | undefined {
  if (state.frozen) {
    const until = state.frozen.until ? ` until ${iso(state.frozen.until)}` : '';
    return `automation is frozen by ${state.frozen.actor}${until} (${state.frozen.reason}); unfreeze to let it act`;
  }
  if (state.inflight) return `operation ${state.inflight.operationId} is still running`;
  if (move === 'failover' && !model.policy.autoFailover) return 'autoFailover is off for this portal; switch it manually';
  if (move === 'failback' && !model.policy.autoFailback) return 'failback is manual (autoFailback is off); switch back when ready';
  const until = cooldownUntil(state, model.policy.cooldownMs, now);
  if (until !== undefined) {
    return `anti-flap cooldown after the switch at ${iso(state.cooldownStartedAt!)} blocks automatic switches until ${iso(until)}; acknowledge the last switch to lift it`;
  }
  return undefined;
}

function servingPhase(state: PortalState, model: PortalModel): Phase {
  return state.activeSite === model.sites[0].name ? 'healthy' : 'failed_over';
}

/**
 * The whole decision: state + policy + now in, next state + actions + one sentence out. No I/O, no clock, so it is
 * replayed in tests and property-checked.
 */
export function decide(state: PortalState, model: PortalModel, now: number): Decision {
  let next: PortalState = state;
  if (state.frozen?.until !== undefined && now >= state.frozen.until) next = { ...state, frozen: undefined };

  const c = classify(next, model, now);
  if (next.unknownRouting !== undefined && !next.inflight) {
    // Health is meaningless without knowing which site serves: nothing moves until the routing is known again.
    const reason = `traffic routing is unknown (${next.unknownRouting}); not switching automatically: switch by hand to the site that should serve`;
    next = { ...next, phase: 'unknown_routing', lastReason: reason };
    return { next, actions: [], analysis: c.analysis, phase: 'unknown_routing', reason, statuses: c.statuses, readiness: c.readiness };
  }
  const active = describe(c.active);
  const entry = ANALYSIS_TABLE[c.analysis];
  const actions: SwitchAction[] = [];
  let reason: string;
  let phase: Phase;

  if (entry.actionable && entry.move && c.target) {
    const target = describe(c.statuses[c.target]);
    const block = blockedBy(next, model, entry.move, now);
    const what = entry.move === 'failover' ? `${active}; ${target}` : `preferred site ${target} while ${active}`;
    if (block) {
      reason = `${what}; not switching: ${block}`;
      phase = next.frozen ? 'frozen' : next.inflight ? 'failing_over' : entry.move === 'failover' ? 'degraded' : servingPhase(next, model);
    } else {
      const operationId = autoOperationId(model.id, now);
      reason = `${what}; switching ${next.activeSite} -> ${c.target}`;
      actions.push({
        type: 'switch',
        operationId,
        portal: model.id,
        from: next.activeSite,
        to: c.target,
        trigger: 'auto',
        reason,
        detectedAt: entry.move === 'failover' ? c.active.failingSince : undefined,
        decidedAt: now,
      });
      next = {
        ...next,
        cooldownStartedAt: now,
        inflight: { operationId, from: next.activeSite, to: c.target, trigger: 'auto', since: now },
      };
      phase = 'failing_over';
    }
  } else {
    switch (c.analysis) {
      case 'NoData':
        reason = `no check results arrived for ${c.active.site} recently; not switching on missing data`;
        phase = 'no_data';
        break;
      case 'AllDown':
        reason = `${active}; no other site is healthy (${model.sites
          .filter((s) => s.name !== c.active.site)
          .map((s) => describe(c.statuses[s.name]))
          .join('; ')}); not switching to an unhealthy site`;
        phase = 'both_down';
        break;
      case 'NoReadyTarget':
        // No eligible target, like AllDown: the healthy standby is not ready (stale content, lagging data).
        reason = `${active}; no healthy site is ready (${model.sites
          .filter((s) => s.name !== c.active.site && c.statuses[s.name].status === 'up')
          .map((s) => c.readiness[s.name].reason)
          .join('; ')}); not switching to a site that is not ready (a person can force)`;
        phase = 'both_down';
        break;
      case 'ActiveDownOnSomeVantages':
        reason = `${active}; quorum is ${model.policy.quorum}, so not switching`;
        phase = 'degraded';
        break;
      case 'ActiveUnconfirmed':
        // Not enough consecutive results yet (just started, or checks just changed): not data to judge on.
        reason = `${active}; waiting for enough results to confirm it`;
        phase = 'no_data';
        break;
      default:
        reason = `${active}`;
        phase = servingPhase(next, model);
    }
    phase = overlayPhase(phase, { inflight: next.inflight !== undefined, frozen: next.frozen !== undefined });
  }
  next = { ...next, phase, lastReason: reason };
  return { next, actions, analysis: c.analysis, phase, reason, statuses: c.statuses, readiness: c.readiness };
}

/** Marks an operation as started (manual and alert switches enter here; auto ones through decide). */
export function beginOperation(
  state: PortalState,
  op: { operationId: string; from: string; to: string; trigger: Trigger; since: number },
): PortalState {
  return { ...state, inflight: op, phase: 'failing_over' };
}

/** Applies an operation's outcome: on success the target becomes active; either way the slot frees. */
export function settleOperation(state: PortalState, outcome: { operationId: string; to: string; ok: boolean }): PortalState {
  if (state.inflight?.operationId !== outcome.operationId) return state;
  // A verified switch wrote every step: from then on the routing is known again.
  if (outcome.ok) return { ...state, inflight: undefined, activeSite: outcome.to, unknownRouting: undefined };
  return { ...state, inflight: undefined };
}

export type { SwitchRequest };

export type Admission =
  | { ok: true; next: PortalState; from: string; to: string; reason: string; statuses: Record<string, SiteStatus> }
  | { ok: false; reason: string; statuses: Record<string, SiteStatus> };

/**
 * The runbook preconditions, checked again by the leader at the moment it takes a request (the API checked them
 * when it was made, but health and freezes move). The checks themselves live in preconditions().
 */
export function admitSwitch(state: PortalState, model: PortalModel, req: SwitchRequest, now: number): Admission {
  const report = preconditions(state, model, req, now);
  const { statuses, from, to } = report;
  const refused = refusal(report, req);
  if (refused !== undefined || to === undefined) return { ok: false, reason: refused ?? 'no target site', statuses };
  const forced = report.forcedPast.length ? ' (forced past the preconditions)' : '';
  const reason = `${req.trigger} switchover ${from} -> ${to}${forced}; ${describe(statuses[from])}; ${describe(statuses[to])}`;
  // Every switch starts the anti-flap cooldown: automation must not undo at once what a person (or an alert)
  // just decided, e.g. move traffic back off a site an operator forced it onto. An acknowledgement lifts it.
  const next = { ...beginOperation(state, { operationId: req.operationId, from, to, trigger: req.trigger, since: now }), cooldownStartedAt: now };
  return { ok: true, next: { ...next, lastReason: reason }, from, to, reason, statuses };
}
