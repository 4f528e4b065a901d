import type { ControlStore, Logger, Metrics, NewAuditEntry, PortalState, StateStore } from '@portal-failover/shared';
import type { LeaseHold } from './lease';
import type { LeadershipHooks } from './leadership';
import type { OperationRunner } from './operation-runner';
import { withdrawLeaderView } from './publish';
import type { PortalRuntime } from './portal-runtime';

/**
 * Loads every portal's saved state into memory; the saved states replace the remembered ones only once all are read
 * (a Redis error half-way leaves them as they were). Returns the portals whose records Redis lost while this process remembered them (restoreLost writes them back).
 */
export async function loadSavedStates(store: StateStore, portals: ReadonlyMap<string, PortalRuntime>, log: Logger): Promise<PortalRuntime[]> {
  const loaded: [PortalRuntime, PortalState][] = [];
  const lost: PortalRuntime[] = [];
  for (const [id, rt] of portals) {
    const saved = await store.loadState(id);
    if (!saved) {
      // Nothing recorded. If this process saved a state before, Redis lost it (restarted empty, a promotion lost
      // writes) and this memory is the best record left: write it back. Otherwise the routing is not known until
      // the traffic steps are read: no automatic switch on the assumption that the first site serves.
      if (rt.persisted !== '') lost.push(rt);
      else rt.state = { ...rt.state, unknownRouting: rt.state.unknownRouting ?? 'the traffic steps have not been read yet' };
      continue;
    }
    if (!rt.sites.has(saved.activeSite)) {
      log.warn(`saved active site "${saved.activeSite}" is no longer configured; assuming ${rt.model.sites[0].name}`, { portal: id });
      saved.activeSite = rt.model.sites[0].name;
    }
    loaded.push([rt, saved]);
  }
  for (const [rt, saved] of loaded) {
    rt.state = saved;
    rt.persisted = JSON.stringify(saved);
    rt.persistedState = saved;
  }
  return lost;
}

/**
 * Redis lost this portal's records while this process remembered them: write back the freeze and the
 * acknowledgement (the API's records, which the next evaluation would otherwise read as absent) and let the next
 * save write the state. Recorded in the audit log, never silent.
 */
export async function restoreLost(rt: PortalRuntime, d: { control: ControlStore; log: Logger; actor: string; record: (e: NewAuditEntry) => void }): Promise<void> {
  rt.persisted = '';
  rt.persistedState = undefined;
  const { frozen, ackedAt } = rt.state;
  if (frozen) await d.control.freeze(rt.model.id, frozen);
  if (ackedAt !== undefined) await d.control.acknowledge(rt.model.id, { at: ackedAt, actor: d.actor, reason: 'restored after Redis lost it' });
  const reason = `Redis lost the records of ${rt.model.id}; restored the state this controller remembered (active ${rt.state.activeSite}${frozen ? ', frozen' : ''}${ackedAt !== undefined ? ', acknowledged' : ''})`;
  d.log.warn(reason, { portal: rt.model.id });
  d.record({ type: 'state.restored', portal: rt.model.id, actor: d.actor, reason, data: { activeSite: rt.state.activeSite, frozen: frozen !== undefined, ackedAt, cooldownStartedAt: rt.state.cooldownStartedAt } });
}

/**
 * What changes when this process takes or loses leadership: load the saved states (before the hold counts), then
 * write back what Redis lost, resume operations left in flight, reconcile with the providers and take results;
 * on losing it, stop taking results and withdraw the leader's metrics.
 */
export class Takeover implements LeadershipHooks {
  private lost: PortalRuntime[] = [];

  constructor(
    private readonly d: {
      portals: ReadonlyMap<string, PortalRuntime>;
      store: StateStore;
      control: ControlStore;
      runner: OperationRunner;
      results: { prepare(): Promise<void>; start(): void; stop(): Promise<void> };
      reconcile: () => Promise<void>;
      metrics: Metrics;
      log: Logger;
      actor: string;
    },
  ) {}

  async prepare(): Promise<void> {
    this.lost = await loadSavedStates(this.d.store, this.d.portals, this.d.log);
    await this.d.results.prepare();
  }

  async elected(hold: LeaseHold): Promise<void> {
    const { d } = this;
    d.metrics.controllerLeader.set(1);
    const lost = this.lost;
    this.lost = [];
    for (const rt of lost) await restoreLost(rt, { control: d.control, log: d.log, actor: d.actor, record: (e) => d.runner.record(e) });
    for (const rt of d.portals.values()) if (rt.state.inflight) await d.runner.resume(rt, hold);
    // Provider truth, read outside the lease loop (provider reads can take seconds; renewals must not wait).
    void d.reconcile();
    d.results.start();
  }

  async deposed(): Promise<void> {
    withdrawLeaderView(this.d.metrics, this.d.portals.values());
    await this.d.results.stop();
  }
}
