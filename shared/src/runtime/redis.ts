import { Redis, type RedisOptions } from 'ioredis';

/**
 * Workers block on Redis and must retry forever (BullMQ requires maxRetriesPerRequest: null); producers and
 * state writes fail fast so a dead Redis surfaces as an error instead of a hang.
 */
export function createRedis(url: string, role: 'blocking' | 'command', extra: RedisOptions = {}): Redis {
  return new Redis(url, {
    lazyConnect: false,
    connectionName: `portal-failover-${role}`,
    maxRetriesPerRequest: role === 'blocking' ? null : 2,
    enableReadyCheck: true,
    retryStrategy: (times) => Math.min(200 * 2 ** Math.min(times, 5), 5_000),
    ...extra,
  });
}

/** Strips credentials so a Redis URL can be printed. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable url)';
  }
}

/** Checks that Redis answers PING within timeoutMs; the error says what to do about it. */
export async function assertRedisReachable(url: string, timeoutMs = 3_000): Promise<void> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: timeoutMs });
  let cause: string | undefined;
  // The rejection only says "Connection is closed."; the error event carries the real cause (ECONNREFUSED, ...).
  client.on('error', (err: Error) => (cause ??= err.message));
  try {
    await client.connect();
    await client.ping();
  } catch (err) {
    const why = cause ?? (err as Error).message;
    throw new Error(
      `cannot reach Redis at ${redactUrl(url)} (${why}). Start one (for example: redis-server --port 6379 --bind 127.0.0.1) ` +
        'or point REDIS_URL (or redis.url in the config) at a running Redis.',
    );
  } finally {
    client.disconnect();
  }
}
