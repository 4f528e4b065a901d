import type { z } from 'zod';
import type { PortalStateSchema } from './records';

export { PHASES, type Freeze, type Phase, type Trigger } from './records';

/** Everything the controller remembers about one portal; persisted in Redis so it survives restarts (records.ts). */
export type PortalState = z.output<typeof PortalStateSchema>;

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
