import type { Redis } from 'ioredis';

export type DrillMode = 'dryRun' | 'roundTrip';

/** One drill run, as audited and shown (the outcome and mode only) on the public status page. */
export interface DrillRecord {
  id: string;
  portal: string;
  mode: DrillMode;
  /** `schedule` for a scheduled run, `manual` for `portal-failover drill run`. */
  trigger: 'schedule' | 'manual';
  startedAt: number;
  finishedAt: number;
  outcome: 'succeeded' | 'failed' | 'skipped';
  /** Why it failed or was skipped, or what it checked. Internal: never on the public page. */
  detail: string;
  /** roundTrip: the operations that moved traffic out and back. */
  operations?: string[];
  /** dryRun: the preconditions as the runbook would check them. */
  preconditions?: { check: string; ok: boolean; detail: string }[];
}

const HISTORY = 100;

/** Drill history per portal (newest first, bounded) and the last success per portal and mode. */
export class DrillStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private historyKey(portal: string): string {
    return `${this.prefix}:portal:${portal}:drills`;
  }

  private lastSuccessKey(portal: string): string {
    return `${this.prefix}:portal:${portal}:drill:last-success`;
  }

  /** The schedule slot a drill definition last handled, so a new leader never runs one slot twice. */
  slotKey(drillIndex: number, portal: string): string {
    return `${this.prefix}:drill:${portal}:${drillIndex}:slot`;
  }

  async record(r: DrillRecord): Promise<void> {
    const m = this.redis.multi().lpush(this.historyKey(r.portal), JSON.stringify(r)).ltrim(this.historyKey(r.portal), 0, HISTORY - 1);
    if (r.outcome === 'succeeded') m.hset(this.lastSuccessKey(r.portal), r.mode, JSON.stringify(r));
    await m.exec();
  }

  async history(portal: string, limit = 20): Promise<DrillRecord[]> {
    return (await this.redis.lrange(this.historyKey(portal), 0, limit - 1)).map((s) => JSON.parse(s) as DrillRecord);
  }

  async lastSuccess(portal: string): Promise<Partial<Record<DrillMode, DrillRecord>>> {
    const all = await this.redis.hgetall(this.lastSuccessKey(portal));
    const out: Partial<Record<DrillMode, DrillRecord>> = {};
    for (const [mode, raw] of Object.entries(all)) out[mode as DrillMode] = JSON.parse(raw) as DrillRecord;
    return out;
  }

  /**
   * When a drill of this portal and mode was first seen configured (set once, kept across restarts): the baseline a
   * drill that never succeeded is measured from, so "no success for 8 days" can alert for it too.
   */
  async configuredSince(portal: string, mode: DrillMode, now: number): Promise<number> {
    const key = `${this.prefix}:drill:configured-since`;
    const field = `${portal}|${mode}`;
    await this.redis.hsetnx(key, field, String(now));
    const raw = Number(await this.redis.hget(key, field));
    return Number.isFinite(raw) && raw > 0 ? raw : now;
  }

  /** Claims a slot: true exactly once per (drill, slot), whichever controller asks. */
  async claimSlot(drillIndex: number, portal: string, slot: number): Promise<boolean> {
    const r = await this.redis.eval(
      `local cur = tonumber(redis.call('GET', KEYS[1]) or '-1')
       if cur >= tonumber(ARGV[1]) then return 0 end
       redis.call('SET', KEYS[1], ARGV[1])
       return 1`,
      1,
      this.slotKey(drillIndex, portal),
      String(slot),
    );
    return r === 1;
  }
}
