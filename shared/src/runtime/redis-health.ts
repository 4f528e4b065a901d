import type { Redis } from 'ioredis';
import type { Gauge } from 'prom-client';
import type { Metrics } from './metrics';

export type RedisProbe = { up: true; ms: number } | { up: false; reason: string };

/**
 * PING with a hard deadline. A paused Redis keeps the socket open and never answers, and a reconnecting client
 * queues the command: either way the caller gets an answer by `timeoutMs`, never a hang.
 */
export async function probeRedis(redis: Redis, timeoutMs: number): Promise<RedisProbe> {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<RedisProbe>((resolve) => {
    timer = setTimeout(() => resolve({ up: false, reason: `no answer within ${timeoutMs} ms (status ${redis.status})` }), timeoutMs);
  });
  const ping = redis.ping().then(
    (): RedisProbe => ({ up: true, ms: Date.now() - started }),
    (err: Error): RedisProbe => ({ up: false, reason: err.message }),
  );
  try {
    return await Promise.race([ping, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** The deadline of the scrape-time PING behind failover_redis_up: well inside the 1 s a scrape may take. */
export const REDIS_UP_TIMEOUT_MS = 400;

/**
 * Fills failover_redis_up at scrape time from a bounded PING (prom-client awaits a gauge's `collect` before each
 * read). Every process that serves /metrics attaches it for its own command connection.
 */
export function attachRedisUpMetric(metrics: Pick<Metrics, 'redisUp'>, redis: Redis, timeoutMs = REDIS_UP_TIMEOUT_MS): void {
  const gauge: Gauge<string> = metrics.redisUp;
  Object.assign(gauge, {
    collect: async () => {
      const p = await probeRedis(redis, timeoutMs);
      gauge.set(p.up ? 1 : 0);
    },
  });
}
