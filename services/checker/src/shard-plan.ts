import type { CheckConfig, VersionSource } from '@portal-failover/shared';

/** One configured check as a checker of one vantage runs it. */
export interface PlannedCheck {
  /** `portal.site.check`: unique within the config. */
  id: string;
  portal: string;
  site: string;
  check: string;
  config: CheckConfig;
  /** Readiness checks keep their interval in a risk window (window-intervals.ts). */
  readiness: boolean;
  /** Set when another site's readiness compares its content version against this site's. */
  version?: VersionSource;
}

/** What a shard's scheduler puts into each of its jobs: enough to find the shard in the worker's own plan. */
export interface ShardJobData {
  interval: number;
  index: number;
  count: number;
  /**
   * 1 on the shards of checks that a risk window's probeInterval moved off their configured interval: planned from
   * those checks alone, so a window starting or ending leaves every other shard (and its checks' phases) as it was.
   */
  window?: 1;
  /** Set on a one-off job that runs a slot a recreated scheduler would otherwise skip: the slot's due time. */
  dueAt?: number;
}

/**
 * The checks of one interval that one job scheduler runs. The shards of an interval fire `interval / count` apart
 * (their scheduler offsets), and the portals of a shard are spread evenly over that gap, so the probes of a vantage
 * are spread evenly over the interval instead of all being due at the same instant. All checks of one portal are
 * due at the same instant: the decision compares a portal's sites, and probing them together means a cut that
 * takes down both sites is seen on both at the same time (a standby whose probe came later would still look up).
 */
export interface Shard extends ShardJobData {
  schedulerId: string;
  /**
   * The scheduler's offset within the interval, ms; never 0, because BullMQ runs a scheduler with offset 0 at once
   * when it is created, so a second process creating the same scheduler would run the shard twice.
   */
  offset: number;
  /** Grouped by portal, portals in the order of a hash of their id. */
  checks: PlannedCheck[];
  /** checks[i] is due this many ms after the shard's job. */
  delays: number[];
}

/** Only what a shard's jobs carry (a Shard is also a ShardJobData, with its plan besides). */
export function shardJobData(s: ShardJobData): ShardJobData {
  return s.window ? { interval: s.interval, index: s.index, count: s.count, window: 1 } : { interval: s.interval, index: s.index, count: s.count };
}

/** The scheduler id of a shard; it names the shard count, so a new count leaves the old schedulers to be removed. */
export function shardSchedulerId(s: ShardJobData): string {
  return `${s.window ? 'window-' : ''}every-${s.interval}ms-shard-${s.index}-of-${s.count}`;
}

/** FNV-1a: stable across processes and versions, so every checker of a vantage computes the same plan. */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/**
 * Splits the checks into shards of about `shardSize` checks per interval, whole portals at a time. The assignment
 * depends only on the portal ids, the check ids and the count per interval, so checker processes that share a
 * vantage (and a config) agree on it.
 */
export function planShards(checks: PlannedCheck[], shardSize: number, forWindow = false): Shard[] {
  const byInterval = new Map<number, Map<string, PlannedCheck[]>>();
  for (const c of checks) {
    let portals = byInterval.get(c.config.interval);
    if (!portals) byInterval.set(c.config.interval, (portals = new Map()));
    const list = portals.get(c.portal);
    if (list) list.push(c);
    else portals.set(c.portal, [c]);
  }
  const shards: Shard[] = [];
  for (const [interval, portals] of [...byInterval].sort((a, b) => a[0] - b[0])) {
    const total = [...portals.values()].reduce((n, list) => n + list.length, 0);
    const count = Math.max(1, Math.min(portals.size, Math.ceil(total / shardSize)));
    const members: { portal: string; checks: PlannedCheck[] }[][] = Array.from({ length: count }, () => []);
    const keyed = [...portals].map(([portal, list]) => ({ portal, list, h: hash(portal) })).sort((a, b) => a.h - b.h || (a.portal < b.portal ? -1 : 1));
    for (const { portal, list, h } of keyed) members[h % count].push({ portal, checks: list });
    const window = interval / count;
    for (let index = 0; index < count; index++) {
      const data = shardJobData({ interval, index, count, ...(forWindow ? { window: 1 as const } : {}) });
      const groups = members[index];
      const shardChecks: PlannedCheck[] = [];
      const delays: number[] = [];
      groups.forEach((g, position) => {
        const delay = Math.floor((position * window) / groups.length);
        for (const c of g.checks) {
          shardChecks.push(c);
          delays.push(delay);
        }
      });
      shards.push({ ...data, schedulerId: shardSchedulerId(data), offset: 1 + Math.floor((index * interval) / count), checks: shardChecks, delays });
    }
  }
  return shards;
}

/** When check `i` of a shard whose job was due at `shardDueAt` is due. */
export function checkDueAt(shard: Shard, shardDueAt: number, i: number): number {
  return shardDueAt + shard.delays[i];
}
