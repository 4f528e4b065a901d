/**
 * How long one provider call may take and still finish inside the lease it started under. A leader trusts its
 * lease for 80% of leaseTtl after a renewal starts (the rest is the margin for clock drift and the round trip),
 * and the last renewal may have started up to renewEvery ago, so that is what is left in the worst case.
 */
export const LEASE_TRUST_FRACTION = 0.8;

export function providerCallBudget(leaseTtlMs: number, renewEveryMs: number): number {
  return Math.floor(leaseTtlMs * LEASE_TRUST_FRACTION - renewEveryMs);
}

/**
 * The time limits a traffic step declares (after the schema's transform): one request, its reload command, or the
 * propagation check that runs after it is verified (the operation waits for it under the same lease).
 */
export function stepTimeLimits(step: Record<string, unknown>): { field: string[]; ms: number }[] {
  const limits: { field: string[]; ms: number }[] = [];
  if (typeof step.timeoutMs === 'number') limits.push({ field: ['timeout'], ms: step.timeoutMs });
  if (typeof step.reloadTimeout === 'number') limits.push({ field: ['reloadTimeout'], ms: step.reloadTimeout });
  const verify = step.verify;
  if (typeof verify === 'object' && verify !== null && 'timeoutMs' in verify && typeof verify.timeoutMs === 'number') {
    limits.push({ field: ['verify', 'timeout'], ms: verify.timeoutMs });
  }
  return limits;
}
