import type { PortalHealth } from './health';

export type Phase = 'healthy' | 'degraded' | 'failing_over' | 'failed_over' | 'both_down' | 'no_data' | 'frozen' | 'unknown_routing';
export const PHASES: readonly Phase[] = ['healthy', 'degraded', 'failing_over', 'failed_over', 'both_down', 'no_data', 'frozen', 'unknown_routing'];

export type Trigger = 'auto' | 'manual' | 'alert';

export interface Freeze {
  reason: string;
  actor: string;
  at: number;
  until?: number;
}

/** Everything the controller remembers about one portal; persisted in Redis so it survives restarts. */
export interface PortalState {
  portal: string;
  activeSite: string;
  health: PortalHealth;
  lastAutoSwitchAt?: number;
  /** An acknowledgement after the last automatic switch lifts the anti-flap block. */
  ackedAt?: number;
  frozen?: Freeze;
  inflight?: { operationId: string; from: string; to: string; trigger: Trigger; since: number };
  phase: Phase;
  lastReason: string;
  /**
   * Set while the leader cannot tell where traffic goes (no record and the traffic steps disagree, point to no
   * configured site, or cannot be read): why, naming each step's answer. Blocks automatic switches; a verified
   * switch, or the steps agreeing again, clears it.
   */
  unknownRouting?: string;
}

/** A site's readiness checks: they make it eligible as a switch target, never decide whether it serves. */
export interface ReadinessModel {
  checkNames: string[];
  /** Readiness checks whose reported content version may lag the other site's newest version by at most maxLagMs. */
  sameVersion: { check: string; site: string; maxLagMs: number }[];
}

/** The slice of a portal's configuration the decision needs. */
export interface PortalModel {
  id: string;
  /** In priority order: the first is the preferred (primary) site. */
  sites: { name: string; checkNames: string[]; readiness?: ReadinessModel }[];
  policy: {
    failureThreshold: number;
    recoveryThreshold: number;
    quorum: number;
    cooldownMs: number;
    autoFailover: boolean;
    autoFailback: boolean;
    staleAfterIntervals: number;
  };
}

export function initialState(model: PortalModel): PortalState {
  return { portal: model.id, activeSite: model.sites[0].name, health: {}, phase: 'no_data', lastReason: 'no check results yet' };
}
