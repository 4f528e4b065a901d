import { randomBytes } from 'node:crypto';
import {
  AuditLog,
  ControlStore,
  DrillStore,
  portalModel,
  preconditions,
  slotAt,
  StateStore,
  type Config,
  type DrillConfig,
  type DrillRecord,
  type Logger,
  type Metrics,
  type NewSwitchIntent,
  type PortalState,
} from '@portal-failover/shared';

/**
 * Scheduled drills (the `drills:` list). The leader calls tick() every evaluation; a drill runs when its schedule
 * enters a new slot that no controller has claimed yet (claimSlot is atomic in Redis, so a leader change never
 * runs a slot twice).
 *
 * - dryRun records the runbook preconditions of a switch to the standby, as they stand now.
 * - roundTrip (only with allowTrafficMove) asks for a switch to the standby through the same intent path as an
 *   operator (so the leader's own preconditions apply), waits for it to be verified, holds, switches back, and
 *   waits for that to be verified.
 * A drill never starts while the portal is frozen, degraded, switching or has a request waiting, and a round trip
 * never inside a risk window: it is recorded as skipped with the reason. Every outcome is audited and stored; a success sets
 * failover_drill_last_success_timestamp_seconds{portal,mode}.
 */
export interface DrillDeps {
  config: Config;
  store: StateStore;
  control: ControlStore;
  drills: DrillStore;
  audit: AuditLog;
  metrics: Metrics;
  logger: Logger;
  now: () => number;
  /** The leader's view of a portal (fresher than Redis). */
  state: (portal: string) => PortalState | undefined;
  /** The risk window in force for the portal now (risk-windows.ts), if any: no traffic is moved for practice then. */
  riskWindow: (portal: string) => string | undefined;
}

const OPERATION_DEADLINE_MS = 120_000;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class DrillRunner {
  private readonly running = new Set<string>();
  /** Whether this process has loaded the last-success gauge from the stored records (once, on its first tick). */
  private restored = false;

  constructor(private readonly d: DrillDeps) {}

  /**
   * The last-success gauge comes from the stored records when this process first leads, not only from drills it ran
   * itself: after a restart or a change of leader the drill-too-old alert must still see the real age. A drill that
   * never succeeded is reported from when it was first configured, so it alerts too instead of having no series.
   */
  private async restoreLastSuccess(): Promise<void> {
    const now = this.d.now();
    for (const drill of this.d.config.drills) {
      const last = (await this.d.drills.lastSuccess(drill.portal))[drill.mode]?.finishedAt ?? (await this.d.drills.configuredSince(drill.portal, drill.mode, now));
      this.d.metrics.drillLastSuccess.set({ portal: drill.portal, mode: drill.mode }, Math.floor(last / 1000));
    }
    this.restored = true;
  }

  /** Starts the drills that are due; never waits for them. */
  async tick(): Promise<void> {
    if (!this.restored) await this.restoreLastSuccess();
    const now = this.d.now();
    for (const [i, drill] of this.d.config.drills.entries()) {
      const slot = slotAt(drill.schedule, now);
      if (slot === undefined || this.running.has(drill.portal)) continue;
      if (!(await this.d.drills.claimSlot(i, drill.portal, slot))) continue;
      this.running.add(drill.portal);
      void this.run(drill, 'schedule')
        .catch((err: Error) => this.d.logger.error(`drill on ${drill.portal} crashed: ${err.message}`, { portal: drill.portal }))
        .finally(() => this.running.delete(drill.portal));
    }
  }

  /** Why a drill may not start now, or undefined. */
  blocker(portal: string): string | undefined {
    const st = this.d.state(portal);
    if (!st) return 'no state for the portal yet';
    if (st.frozen) return `automation is frozen by ${st.frozen.actor}: ${st.frozen.reason}`;
    if (st.inflight) return `operation ${st.inflight.operationId} is running`;
    if (st.phase === 'degraded' || st.phase === 'both_down' || st.phase === 'no_data' || st.phase === 'unknown_routing') return `the portal is ${st.phase}`;
    return undefined;
  }

  async run(drill: Pick<DrillConfig, 'portal' | 'mode' | 'holdFor'>, trigger: DrillRecord['trigger']): Promise<DrillRecord> {
    const startedAt = this.d.now();
    const id = `drill-${drill.portal}-${startedAt.toString(36)}-${randomBytes(2).toString('hex')}`;
    const base = { id, portal: drill.portal, mode: drill.mode, trigger, startedAt };
    const blocked = this.blocker(drill.portal);
    let rec: DrillRecord;
    const window = drill.mode === 'roundTrip' ? this.d.riskWindow(drill.portal) : undefined;
    if (blocked) rec = { ...base, finishedAt: this.d.now(), outcome: 'skipped', detail: blocked };
    // A dry run moves nothing and is a fair re-check inside a window; a round trip would move real traffic
    // during an announced cut.
    else if (window) rec = { ...base, finishedAt: this.d.now(), outcome: 'skipped', detail: `in a risk window: "${window}" is in force` };
    else if (drill.mode === 'dryRun') rec = this.dryRun(base);
    else rec = await this.roundTrip(base, drill.holdFor);
    await this.d.drills.record(rec);
    await this.d.audit.append({ type: 'drill', portal: rec.portal, actor: `drill:${rec.portal}`, reason: rec.detail, data: { drill: rec.id, mode: rec.mode, trigger, outcome: rec.outcome, operations: rec.operations, preconditions: rec.preconditions } });
    if (rec.outcome === 'succeeded') this.d.metrics.drillLastSuccess.set({ portal: rec.portal, mode: rec.mode }, Math.floor(rec.finishedAt / 1000));
    this.d.logger.info(`drill ${rec.id} (${rec.mode}) ${rec.outcome}: ${rec.detail}`, { portal: rec.portal });
    return rec;
  }

  private dryRun(base: Omit<DrillRecord, 'finishedAt' | 'outcome' | 'detail'>): DrillRecord {
    const p = this.d.config.portals.find((x) => x.id === base.portal)!;
    const st = this.d.state(base.portal)!;
    const model = portalModel(p);
    const standby = p.sites.find((s) => s.name !== st.activeSite)!.name;
    const report = preconditions(st, model, { operationId: base.id, trigger: 'manual', to: standby, force: false }, this.d.now());
    const checks = report.checks.map((c) => ({ check: c.check, ok: c.ok, detail: c.detail }));
    const ok = report.blocking.length === 0;
    return { ...base, finishedAt: this.d.now(), outcome: ok ? 'succeeded' : 'failed', detail: ok ? `a switch ${st.activeSite} -> ${standby} would proceed` : `a switch would be refused: ${report.blocking.map((c) => `${c.check} (${c.detail})`).join('; ')}`, preconditions: checks };
  }

  private async roundTrip(base: Omit<DrillRecord, 'finishedAt' | 'outcome' | 'detail'>, holdFor: number): Promise<DrillRecord> {
    const p = this.d.config.portals.find((x) => x.id === base.portal)!;
    const home = this.d.state(base.portal)!.activeSite;
    const away = p.sites.find((s) => s.name !== home)!.name;
    const ops: string[] = [];
    const fail = (detail: string): DrillRecord => ({ ...base, finishedAt: this.d.now(), outcome: 'failed', detail, operations: ops });
    const out = await this.switchTo(base, home, away, 'out');
    if (out.id) ops.push(out.id);
    if (!out.ok) return fail(`switch to ${away} failed: ${out.detail}`);
    await sleep(holdFor);
    const back = await this.switchTo(base, away, home, 'back');
    if (back.id) ops.push(back.id);
    if (!back.ok) return fail(`switch back to ${home} failed: ${back.detail}; traffic is on ${away}`);
    return { ...base, finishedAt: this.d.now(), outcome: 'succeeded', detail: `switched ${home} -> ${away}, held ${Math.round(holdFor / 1000)}s, switched back; both verified`, operations: ops };
  }

  /** One switch through the intent path, waited for until it is verified, failed or rejected. */
  private async switchTo(base: { id: string; portal: string }, from: string, to: string, leg: string): Promise<{ ok: boolean; id?: string; detail: string }> {
    const now = this.d.now();
    const op: NewSwitchIntent = {
      id: `${base.id}-${leg}`,
      portal: base.portal,
      from,
      to,
      trigger: 'manual',
      reason: `scheduled drill ${base.id}: switch ${leg}`,
      actor: `drill:${base.portal}`,
      requestedAt: now,
      force: false,
      expectFrom: from,
    };
    const r = await this.d.control.requestOperation(op, { log: this.d.audit, entry: { type: 'operation.requested', portal: op.portal, actor: op.actor, reason: op.reason, operation: op.id, data: { from, to, trigger: 'manual', drill: base.id } } });
    if (!r.ok) return { ok: false, detail: `another operation (${r.operationId}) is ${r.blockedBy === 'intent' ? 'waiting' : 'running'}` };
    const deadline = this.d.now() + OPERATION_DEADLINE_MS;
    while (this.d.now() < deadline) {
      const cur = await this.d.store.loadOperation(op.id);
      if (cur && (cur.status === 'succeeded' || cur.status === 'failed' || cur.status === 'rejected')) {
        return { ok: cur.status === 'succeeded', id: op.id, detail: cur.status === 'succeeded' ? 'verified' : `${cur.status}: ${cur.error ?? ''}` };
      }
      await sleep(200);
    }
    return { ok: false, id: op.id, detail: `not finished within ${OPERATION_DEADLINE_MS / 1000}s` };
  }
}
