import type { PortalState } from './state';

/** What the anti-flap block after the last switch looks like at `now` (for views and decisions alike). */
export interface CooldownView {
  /** When the last switch started the cooldown. */
  startedAt: number;
  /** When the cooldown ends on its own. */
  until: number;
  /** The cooldown period has not yet run out (an acknowledgement may still have lifted it). */
  active: boolean;
  /** Somebody acknowledged the last switch, lifting the block. */
  acknowledged: boolean;
}

type CooldownInput = Pick<PortalState, 'cooldownStartedAt' | 'ackedAt'>;

/** The cooldown after the last switch, or undefined when no switch has started one yet. */
export function cooldownOf(state: CooldownInput, cooldownMs: number, now: number): CooldownView | undefined {
  const startedAt = state.cooldownStartedAt;
  if (startedAt === undefined) return undefined;
  return {
    startedAt,
    until: startedAt + cooldownMs,
    active: now - startedAt < cooldownMs,
    acknowledged: state.ackedAt !== undefined && state.ackedAt >= startedAt,
  };
}

/**
 * When the anti-flap block after the last switch ends, or undefined when no block holds (none yet, expired, or
 * acknowledged since). The one rule for automatic switches, alerts and the API's webhook answer alike.
 */
export function cooldownUntil(state: CooldownInput, cooldownMs: number, now: number): number | undefined {
  const c = cooldownOf(state, cooldownMs, now);
  return c && c.active && !c.acknowledged ? c.until : undefined;
}
