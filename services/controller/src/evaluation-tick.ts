import type { AvailabilityRecorder, ControlRecords, ControlStore, PortalState, RateLimitedLog } from '@portal-failover/shared';
import type { ControlChanges } from './control-changes';
import type { Evaluation } from './evaluation';
import type { LeaseHold } from './lease';
import type { OperationRunner } from './operation-runner';
import type { PortalRuntime } from './portal-runtime';
import { takeRequest, type RequestIntakeDeps } from './request-intake';
import type { RiskWindowKeeper } from './risk-windows';
import { viewIsCurrent } from './takeover-view';
import type { LeaderUpkeep } from './upkeep';

/** Portals evaluated between two turns of the event loop. */
const YIELD_EVERY = 250;

/** Freezes are read afresh every tick: equal content is no change (an unchanged state is neither stringified nor saved). */
function sameFreeze(a: PortalState['frozen'], b: PortalState['frozen']): boolean {
  return a === b || (a !== undefined && b !== undefined && JSON.stringify(a) === JSON.stringify(b));
}

/**
 * The leader's evaluation timer: reads the API's control records, resumes orphaned operations, copies freeze and
 * acknowledgement into each portal's state, evaluates it (time passes even without results), takes a waiting
 * switchover request, keeps the DNS TTLs that risk windows ask for (risk-windows.ts), saves, then runs the upkeep. Ticks never overlap: a slow Redis must not stack them up (each
 * would try to take the same request).
 */
export class EvaluationTick {
  private ticking = false;
  /** The API's records as last read; kept between reads (see ControlChanges) and when a read fails. */
  private control: Map<string, ControlRecords> | undefined;

  constructor(
    private readonly d: {
      portals: ReadonlyMap<string, PortalRuntime>;
      leader: { readonly current: LeaseHold | undefined; readonly isLeader: boolean; readonly since: number };
      control: ControlStore;
      changes: ControlChanges;
      evaluation: Evaluation;
      runner: OperationRunner;
      requests: RequestIntakeDeps;
      availability: AvailabilityRecorder;
      upkeep: LeaderUpkeep;
      riskWindows: RiskWindowKeeper;
      warn: RateLimitedLog;
      now: () => number;
      /** The tick's period (controller.evaluateEvery). */
      evaluateEvery: number;
    },
  ) {}

  async run(): Promise<void> {
    if (!this.d.leader.isLeader || this.ticking) return;
    this.ticking = true;
    try {
      await this.once();
    } finally {
      this.ticking = false;
    }
  }

  private async once(): Promise<void> {
    const { d } = this;
    const why = await d.changes.check();
    if (why) {
      try {
        this.control = await d.control.read([...d.portals.keys()]);
      } catch (err) {
        d.changes.missed();
        d.warn.warn('control', `cannot read freezes and switchover requests, keeping the last read: ${(err as Error).message}`);
      }
    }
    const control = this.control;
    const now = d.now();
    const hold = d.leader.current;
    if (hold) await d.runner.resumeOrphans(d.portals.values(), hold);
    let since = 0;
    for (const [id, rt] of d.portals) {
      // Each portal's step is synchronous (controller.ts); between portals results may be taken. At 12,500 portals
      // one uninterrupted pass held the results worker back for a good part of the tick.
      if (++since === YIELD_EVERY) {
        since = 0;
        await new Promise((r) => setImmediate(r));
      }
      const c = control?.get(id);
      // Freeze and acknowledgement are owned by the API; the decision reads them through the state.
      // A freeze past its end is gone from Redis (PXAT), but may still be in the last read.
      const freeze = c?.freeze?.until !== undefined && c.freeze.until <= now ? undefined : c?.freeze;
      const controlChanged = c !== undefined && (!sameFreeze(rt.state.frozen, freeze) || rt.state.ackedAt !== c.ack?.at);
      if (controlChanged) rt.state = { ...rt.state, frozen: freeze, ackedAt: c.ack?.at };
      // Nothing happened to this portal and its last evaluation is recent enough (PortalRuntime.quietEvaluateMs):
      // only the availability sample, from that evaluation.
      const quiet =
        !controlChanged && !c?.intent && rt.state.inflight === undefined && !rt.ttlChange && rt.evaluatedAt >= d.leader.since && now + d.evaluateEvery - rt.evaluatedAt <= rt.quietEvaluateMs;
      if (quiet) {
        d.availability.sample(id, rt.activeStatus, now);
        continue;
      }
      const decision = d.evaluation.evaluate(rt);
      if (decision) d.availability.sample(id, rt.activeStatus, now);
      const current = d.leader.current;
      // Right after a takeover the loaded health predates the handover: requests wait until it is current.
      const sites = rt.model.sites.map((s) => s.name);
      if (c?.intent && current && decision && viewIsCurrent(decision.statuses, sites, rt.model.policy.quorum, d.now() - d.leader.since, rt.takeoverGraceMs)) {
        await takeRequest(d.requests, rt, c.intent, current);
      }
    }
    await Promise.all([...d.portals.values()].map((rt) => d.evaluation.persist(rt)));
    // After the requests were taken (a switch decided this tick is in flight, and a TTL change waits for it) and
    // the states saved (a TTL change saves its own result).
    const held = d.leader.current;
    if (held) await d.riskWindows.tick(held, why === 'changed');
    await d.upkeep.run();
  }
}
