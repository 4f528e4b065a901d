import type { Redis } from 'ioredis';
import { keys, probeIntervalTarget, RiskWindowStore, type Config, type RiskWindow } from '@portal-failover/shared';

/** What the interval of one serving check depends on. */
export interface TunableCheck {
  schedulerId: string;
  portal: string;
  /** Readiness checks keep their own interval: they are re-verified, not watched faster. */
  readiness: boolean;
  /** The check's configured interval and timeout. */
  config: { interval: number; timeout: number };
  /** The interval the check is probed at now. */
  intervalMs: number;
}

/**
 * A risk window's `probeInterval` for the checker: while a window is in force (from start − leadTime to its end),
 * the serving checks of its portal are probed at min(interval, probeInterval), never faster than their own timeout
 * (one probe of a check at a time). Windows come from the config and from Redis (announced through the API; read
 * every REFRESH_MS, the last read kept when Redis is away).
 */
export class WindowIntervals {
  static readonly REFRESH_MS = 5_000;
  private announced = new Map<string, RiskWindow[]>();
  private readAt = Number.NEGATIVE_INFINITY;
  private readonly store: RiskWindowStore | undefined;
  /** Config windows by portal id: intervalFor runs for every check every second. */
  private readonly configured: Map<string, readonly RiskWindow[]>;
  private readonly anyConfigured: boolean;

  constructor(
    private readonly config: Config,
    redis: unknown,
  ) {
    // Only a full client can read the announced windows; a checker given less uses the config's windows only.
    const full = redis as Partial<Redis> | undefined;
    if (full && typeof full.pipeline === 'function' && typeof full.hgetall === 'function') this.store = new RiskWindowStore(full as Redis, keys(config.redis.prefix));
    this.configured = new Map(config.portals.map((p) => [p.id, p.riskWindows]));
    this.anyConfigured = config.portals.some((p) => p.riskWindows.length > 0);
  }

  /** Re-reads the announced windows when the last read is older than REFRESH_MS; errors keep the last read. */
  async refresh(now: number): Promise<void> {
    if (!this.store || now - this.readAt < WindowIntervals.REFRESH_MS) return;
    this.readAt = now;
    this.announced = await this.store.listMany(this.config.portals.map((p) => p.id));
  }

  /** Whether any window is known at all; without one, no check's interval can differ from its configured one. */
  get any(): boolean {
    if (this.anyConfigured) return true;
    for (const list of this.announced.values()) if (list.length) return true;
    return false;
  }

  /** The interval each check should be probed at now. */
  intervalFor(c: TunableCheck, now: number): number {
    if (c.readiness) return c.config.interval;
    const configured = this.configured.get(c.portal) ?? [];
    const announced = this.announced.get(c.portal) ?? [];
    if (!configured.length && !announced.length) return c.config.interval;
    const target = probeIntervalTarget([...configured, ...announced], now);
    return target === undefined ? c.config.interval : Math.min(c.config.interval, Math.max(target, c.config.timeout));
  }

  /** The checks whose interval changes now, with the new value. */
  changes(checks: Iterable<TunableCheck>, now: number): Map<string, number> {
    const out = new Map<string, number>();
    for (const c of checks) {
      const want = this.intervalFor(c, now);
      if (want !== c.intervalMs) out.set(c.schedulerId, want);
    }
    return out;
  }
}
