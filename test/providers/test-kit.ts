import { randomBytes } from 'node:crypto';
import { ProviderError, type Operation } from '@portal-failover/shared';

/** Runs `fn`, which must reject with a ProviderError, and hands the error back so its fields can be checked. */
export async function rejection(fn: () => Promise<unknown>): Promise<ProviderError> {
  try {
    await fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ProviderError);
    return err as ProviderError;
  }
  throw new Error('expected a rejection, but the call succeeded');
}

/** A running one-step operation, as the controller hands it to executeOperation. */
export function runningOperation(kind: string, portal = 'dvc-hanoi'): Operation {
  return {
    id: `op-${randomBytes(4).toString('hex')}`,
    portal,
    from: 'primary',
    to: 'standby',
    trigger: 'manual',
    reason: 'test',
    actor: 'test',
    status: 'running',
    fence: 1,
    decidedAt: Date.now(),
    resumedCount: 0,
    steps: [{ index: 0, kind, label: kind, status: 'pending', attempts: 0 }],
  };
}
