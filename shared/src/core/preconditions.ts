import { classify } from './classify';
import { cooldownUntil } from './cooldown';
import { describeSite, iso } from './describe';
import type { SiteStatus } from './health';
import type { Readiness } from './readiness';
import type { PortalModel, PortalState, Trigger } from './state';

/**
 * The runbook preconditions of a switchover, in one place. The API evaluates them when a request is made (409 and
 * dry-run), the Alertmanager webhook when an alert arrives, and the leader again when it takes the request
 * (admitSwitch), because health and freezes move in between. Pure: state, model, request and clock in.
 */

/** A switchover somebody asked for (API or Alertmanager). */
export interface SwitchRequest {
  operationId: string;
  trigger: Trigger;
  /** Target site; undefined lets the controller pick the first healthy site in priority order. */
  to?: string;
  /** The site the requester believed active (alerts name the failing site): void if that changed since. */
  expectFrom?: string;
  force: boolean;
}

export type PreconditionName =
  | 'no operation in flight'
  | 'alerted site still active'
  | 'target is a known site'
  | 'target is not the active site'
  | 'automation not frozen'
  | 'anti-flap cooldown over'
  | 'target healthy by quorum'
  | 'target ready';

export interface Precondition {
  check: PreconditionName;
  ok: boolean;
  /** Why it holds or fails, as a clause an operator reads. */
  detail: string;
  /** A person's force may override it (alerts never force). */
  forceable: boolean;
}

/** What the checks read: the leader's state, or the API's view of it (state plus its own control records). */
export type PreconditionState = Pick<PortalState, 'activeSite' | 'health' | 'frozen' | 'inflight' | 'cooldownStartedAt' | 'ackedAt'> & {
  /** A request stored for the leader but not taken yet (seen by the API; the leader is the one taking it). */
  waiting?: string;
};

export interface PreconditionReport {
  checks: Precondition[];
  /** Failing checks that this request's force does not override, in order; empty when it may proceed. */
  blocking: Precondition[];
  /** Failing checks that force overrides for this request. */
  forcedPast: Precondition[];
  from: string;
  /** The target: the requested site, or the first healthy other site in priority order (else the first other). */
  to: string | undefined;
  statuses: Record<string, SiteStatus>;
}

/**
 * Whether `s` is a good enough target: automation (alerts) needs it steady, up by quorum with its newest probe
 * passing, as classify requires for automatic switches (a standby cut together with the primary stays "up" by
 * hysteresis for a few rounds). A person may pick a site that is up by quorum, or force.
 */
function healthyTarget(s: SiteStatus | undefined, automation: boolean): boolean {
  return s?.status === 'up' && (!automation || s.steady);
}

function pickTarget(model: PortalModel, from: string, statuses: Record<string, SiteStatus>, readiness: Record<string, Readiness>, automation: boolean): string | undefined {
  const others = model.sites.filter((s) => s.name !== from);
  const healthy = others.filter((s) => healthyTarget(statuses[s.name], automation));
  return (healthy.find((s) => readiness[s.name]?.ready) ?? healthy[0] ?? others[0])?.name;
}

function healthDetail(s: SiteStatus, automation: boolean): string {
  // Up but not steady: name the vantages whose newest probe failed and why (describeSite says it).
  if (automation && s.status === 'up' && !s.steady) return describeSite(s);
  return `${s.site} is ${s.status}${s.down.length ? ` (down on ${s.down.join(', ')})` : ''}`;
}

/**
 * Every runbook check for `request`, in the order an operator fixes them. A person's force overrides the freeze
 * and the target's health, never a running operation, a wrong or unknown target; alerts are automation: they
 * never force, and they obey the anti-flap cooldown (people are not held by it).
 */
export function preconditions(state: PreconditionState, model: PortalModel, request: SwitchRequest, now: number): PreconditionReport {
  const { statuses, readiness } = classify({ ...state, portal: model.id, phase: 'no_data', lastReason: '' }, model, now);
  const from = state.activeSite;
  const automation = request.trigger !== 'manual';
  const to = request.to ?? pickTarget(model, from, statuses, readiness, automation);
  const known = to !== undefined && model.sites.some((s) => s.name === to);
  const checks: Precondition[] = [];
  const add = (check: PreconditionName, ok: boolean, detail: string, forceable = false) => checks.push({ check, ok, detail, forceable });

  const busy = state.inflight?.operationId ?? state.waiting;
  add('no operation in flight', busy === undefined, state.inflight ? `operation ${busy} is still running` : busy ? `operation ${busy} is waiting to run` : 'none');
  if (request.expectFrom !== undefined) {
    add('alerted site still active', request.expectFrom === from, request.expectFrom === from ? `${from} is active` : `alert is about ${request.expectFrom}, but ${from} is active`);
  }
  add('target is a known site', known, known ? `${to} is configured` : to === undefined ? 'no other site is configured' : `unknown site "${to}"`);
  add('target is not the active site', to !== from, to === from ? `${to} is already the active site` : `active site is ${from}`);
  add('automation not frozen', state.frozen === undefined, state.frozen ? `frozen by ${state.frozen.actor}: ${state.frozen.reason}` : 'not frozen', true);
  if (request.trigger !== 'manual') {
    const until = cooldownUntil(state, model.policy.cooldownMs, now);
    add(
      'anti-flap cooldown over',
      until === undefined,
      until === undefined ? 'no cooldown holds' : `anti-flap cooldown until ${iso(until)} (after the switch at ${iso(state.cooldownStartedAt!)}); acknowledge to lift it`,
    );
  }
  if (known) add('target healthy by quorum', healthyTarget(statuses[to], automation), healthDetail(statuses[to], automation), true);
  // A standby that serves stale content or lags its data is no target for automation; a person may still force.
  if (known) add('target ready', readiness[to].ready, readiness[to].reason, true);

  const force = request.force && request.trigger === 'manual';
  const failing = checks.filter((c) => !c.ok);
  return {
    checks,
    blocking: failing.filter((c) => !(force && c.forceable)),
    forcedPast: failing.filter((c) => force && c.forceable),
    from,
    to: known ? to : undefined,
    statuses,
  };
}

/** The one sentence for a refused request: the first blocking check, and whether force would get past it. */
export function refusal(report: PreconditionReport, request: Pick<SwitchRequest, 'trigger'>): string | undefined {
  const first = report.blocking[0];
  if (!first) return undefined;
  const hint = first.forceable && request.trigger === 'manual' ? ' (force: true overrides this)' : '';
  return `precondition failed: ${first.check}: ${first.detail}${hint}`;
}
