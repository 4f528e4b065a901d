/**
 * Provider truth: what a set of traffic-step readings says about where the portal's traffic goes, and what the
 * leader should do about it given what it has recorded. Pure, like decide(): the controller reads the steps
 * (reconcile.ts) and acts on the verdict.
 */

/** One traffic step as read from its provider. */
export interface StepReading {
  /** The step's label (no secrets), e.g. "powerdns www.portal.example./A"; also the metric's step label. */
  step: string;
  /** The configured sites this step's current value routes to; undefined when the step could not be read. */
  pointsAt?: string[];
  /** What the provider answered, for the reason sentence (record values, server states) or why it could not. */
  observed: string;
}

export type RoutingTruth =
  | { kind: 'agreed'; site: string; reason: string }
  | { kind: 'unknown'; reason: string };

function answer(r: StepReading): string {
  if (r.pointsAt === undefined) return `${r.step} could not be read (${r.observed})`;
  if (r.pointsAt.length === 0) return `${r.step} points to no configured site (${r.observed})`;
  return `${r.step} points to ${r.pointsAt.join(' or ')} (${r.observed})`;
}

/**
 * The site every step agrees on (the first in priority order when a value fits several), or why there is none:
 * a step that cannot be read, a step that routes to no configured site, or steps that disagree. The reason
 * sentence names every step's answer, so an operator sees which record to look at.
 */
export function judgeRouting(readings: StepReading[], sitesInPriority: string[]): RoutingTruth {
  const answers = readings.map(answer).join('; ');
  if (readings.length === 0) return { kind: 'unknown', reason: 'no traffic step to read' };
  if (readings.some((r) => r.pointsAt === undefined)) return { kind: 'unknown', reason: `cannot tell where traffic goes: ${answers}` };
  const common = sitesInPriority.filter((s) => readings.every((r) => r.pointsAt!.includes(s)));
  if (common.length === 0) {
    const none = readings.some((r) => r.pointsAt!.length === 0);
    return { kind: 'unknown', reason: `${none ? 'a traffic step points to no configured site' : 'the traffic steps disagree'}: ${answers}` };
  }
  return { kind: 'agreed', site: common[0], reason: `every traffic step points to ${common[0]}: ${answers}` };
}

/** Per step: 1 routes to the recorded site, 0 routes elsewhere (drift), -1 could not be read. */
export type StepSync = 1 | 0 | -1;

export type ReconcileVerdict =
  /** No record (or the record itself is unknown routing): the providers agree, so their site becomes the record. */
  | { kind: 'adopt'; site: string; reason: string; sync: StepSync[] }
  /** No record and the providers do not say: no automatic switch until a person decides or they agree again. */
  | { kind: 'unknown_routing'; reason: string; sync: StepSync[] }
  | { kind: 'in_sync'; sync: StepSync[] }
  /** Every step that could be read routes to the recorded site, but some could not be read: nothing to conclude. */
  | { kind: 'unreadable'; reason: string; sync: StepSync[] }
  /** The record and the providers disagree: report, and with onDrift repair put the recorded site back. */
  | { kind: 'drift'; recorded: string; observed: string; reason: string; repair: boolean; sync: StepSync[] };

export interface ReconcileInput {
  /** The recorded active site, or undefined when there is no record to trust (first start, Redis lost it). */
  recorded: string | undefined;
  readings: StepReading[];
  sitesInPriority: string[];
  onDrift: 'alert' | 'repair';
}

/** What the leader does after reading every traffic step. */
export function reconcileRouting(input: ReconcileInput): ReconcileVerdict {
  const { recorded, readings, sitesInPriority } = input;
  if (recorded === undefined) {
    const truth = judgeRouting(readings, sitesInPriority);
    const sync: StepSync[] = readings.map((r) => (r.pointsAt === undefined ? -1 : truth.kind === 'agreed' ? 1 : 0));
    if (truth.kind === 'agreed') return { kind: 'adopt', site: truth.site, reason: `no recorded routing; adopting ${truth.site}: ${truth.reason}`, sync };
    return { kind: 'unknown_routing', reason: `no recorded routing and ${truth.reason}; not switching automatically until the steps agree or an operator switches`, sync };
  }
  const sync: StepSync[] = readings.map((r) => (r.pointsAt === undefined ? -1 : r.pointsAt.includes(recorded) ? 1 : 0));
  if (sync.every((s) => s === 1)) return { kind: 'in_sync', sync };
  const answers = readings.map(answer).join('; ');
  if (!sync.includes(0)) return { kind: 'unreadable', reason: `cannot confirm ${recorded} is serving: ${answers}`, sync };
  const elsewhere = readings.filter((_r, i) => sync[i] === 0).map((r) => (r.pointsAt!.length ? r.pointsAt!.join('|') : r.observed));
  return {
    kind: 'drift',
    recorded,
    observed: [...new Set(elsewhere)].join(', '),
    reason: `traffic drifted from the recorded site ${recorded}: ${answers}`,
    repair: input.onDrift === 'repair',
    sync,
  };
}
