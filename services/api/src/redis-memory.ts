import type { Redis } from 'ioredis';
import type { Gauge } from 'prom-client';
import type { Metrics } from '@portal-failover/shared';

/** Same deadline as the PING behind failover_redis_up: /metrics must answer within a second while Redis is paused. */
const INFO_TIMEOUT_MS = 400;

function field(info: string, name: string): number | undefined {
  const m = new RegExp(`^${name}:(\\d+)\\s*$`, 'm').exec(info);
  return m ? Number(m[1]) : undefined;
}

/**
 * Fills failover_redis_memory_used_bytes and failover_redis_maxmemory_bytes at scrape time from one bounded
 * INFO memory, so an alert can fire well before Redis reaches maxmemory (with noeviction, a full Redis refuses the
 * writes a failover needs). Only the API attaches it: one reader per installation is enough, and the API is the
 * process that takes outside input into Redis. A slow or failed INFO leaves the last figures.
 */
export function attachRedisMemoryMetrics(metrics: Pick<Metrics, 'redisMemoryUsed' | 'redisMaxMemory'>, redis: Redis): void {
  let pending: Promise<void> | undefined;
  const read = (): Promise<void> => {
    pending ??= (async () => {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), INFO_TIMEOUT_MS)));
      try {
        const info = await Promise.race([redis.info('memory').catch(() => undefined), deadline]);
        if (info === undefined) return;
        const used = field(info, 'used_memory');
        const max = field(info, 'maxmemory');
        if (used !== undefined) metrics.redisMemoryUsed.set(used);
        if (max !== undefined) metrics.redisMaxMemory.set(max);
      } finally {
        clearTimeout(timer);
        // Both gauges collect in the same scrape: they share this read, the next scrape reads again.
        setImmediate(() => (pending = undefined));
      }
    })();
    return pending;
  };
  for (const g of [metrics.redisMemoryUsed, metrics.redisMaxMemory] as Gauge<string>[]) Object.assign(g, { collect: read });
}
