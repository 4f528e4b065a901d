import type { Phase } from './state';

/**
 * The phase shown while an operation runs or automation is frozen, over the phase health alone gives. A running
 * operation wins; a freeze hides a healthy/degraded/failed-over phase but never "no data" or "both down", which
 * say more. Used by decide() and by the API's portal view (whose freeze record may be newer than the last decision).
 */
export function overlayPhase(base: Phase, flags: { inflight: boolean; frozen: boolean }): Phase {
  if (flags.inflight) return 'failing_over';
  if (flags.frozen && base !== 'no_data' && base !== 'both_down') return 'frozen';
  return base;
}
