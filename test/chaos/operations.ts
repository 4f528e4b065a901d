import type { NewSwitchIntent, Operation, StateStore } from '@portal-failover/shared';
import { waitFor } from '../support/free-port';

/** A manual switchover request as the API would store it (ControlStore.requestOperation takes it). */
export function manualOperation(portal: string, to: string, reason: string, tag: string): NewSwitchIntent {
  const now = Date.now();
  return { id: `${portal}-${now.toString(36)}-${tag}`, portal, from: '', to, trigger: 'manual', reason, actor: 'chaos', requestedAt: now, force: false };
}

/** Waits until the stored operation is succeeded, failed or rejected, and returns it. */
export function operationFinished(store: StateStore, id: string, what: string, timeoutMs = 30_000): Promise<Operation> {
  return waitFor(
    async () => {
      const o = await store.loadOperation(id);
      return o && ['succeeded', 'failed', 'rejected'].includes(o.status) ? o : undefined;
    },
    { timeoutMs, intervalMs: 50, what: `${what}: operation ${id} finished` },
  );
}
