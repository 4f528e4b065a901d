import { Redis, type RedisOptions } from 'ioredis';
import { parseHostPort } from '../config/fields';
import type { RedisConfig } from '../config/redis-schema';
import { StreamBoundSentinelConnector } from './sentinel-connector';

/** A Redis address: a URL, or the `redis` section of the config (URL or Sentinel, with timeouts and secrets). */
export type RedisTarget = string | Pick<RedisConfig, 'url' | 'sentinels' | 'name' | 'username' | 'password' | 'sentinelPassword' | 'tls' | 'connectTimeout' | 'commandTimeout'>;

/** Defaults for a bare URL (tests, the demo): the same as the config's. */
const DEFAULT_CONNECT_TIMEOUT = 2_000;
const DEFAULT_COMMAND_TIMEOUT = 1_000;

/**
 * Workers block on Redis and must retry forever (BullMQ requires maxRetriesPerRequest: null); producers and
 * state writes fail fast so a dead Redis surfaces as an error instead of a hang.
 *
 * Every connection has a connect timeout. Command connections also have a command timeout: a paused (SIGSTOP) or
 * blackholed Redis keeps the TCP connection open and never answers, and without it the lease renewal would wait
 * forever. A blocking connection cannot have one (BZPOPMIN waits on purpose); it gets ioredis's blockingTimeout
 * instead, which times a blocking command out shortly after the server-side timeout it asked for.
 */
export function redisOptions(target: RedisTarget, role: 'blocking' | 'command', extra: RedisOptions = {}): RedisOptions {
  const cfg = typeof target === 'string' ? { url: target, connectTimeout: DEFAULT_CONNECT_TIMEOUT, commandTimeout: DEFAULT_COMMAND_TIMEOUT } : target;
  const base: RedisOptions = {
    lazyConnect: false,
    connectionName: `portal-failover-${role}`,
    maxRetriesPerRequest: role === 'blocking' ? null : 2,
    enableReadyCheck: true,
    // Capped at 1 s: after Redis comes back, checks must resume within two intervals, and a reconnect attempt
    // to a dead server costs next to nothing.
    retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 4), 1_000),
    connectTimeout: cfg.connectTimeout,
    ...(role === 'command' ? { commandTimeout: cfg.commandTimeout } : { blockingTimeout: 60_000, blockingTimeoutGrace: 2_000 }),
  };
  if ('sentinels' in cfg && cfg.sentinels) {
    const tls = 'tls' in cfg && cfg.tls ? {} : undefined;
    return {
      ...base,
      sentinels: cfg.sentinels.map((s) => parseHostPort(s)!),
      name: cfg.name,
      role: 'master',
      username: cfg.username,
      password: cfg.password?.reveal(),
      sentinelPassword: cfg.sentinelPassword?.reveal(),
      tls,
      enableTLSForSentinelMode: tls !== undefined,
      sentinelTLS: tls,
      // Asks the Sentinels every time it (re)connects, and listens for +switch-master so a promotion is followed
      // at once instead of after the old master's connection times out.
      failoverDetector: true,
      Connector: StreamBoundSentinelConnector,
      sentinelCommandTimeout: cfg.commandTimeout,
      sentinelRetryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 5), 2_000),
      ...extra,
    };
  }
  const url = cfg.url ?? 'redis://127.0.0.1:6379';
  const password = 'password' in cfg ? cfg.password?.reveal() : undefined;
  const username = 'username' in cfg ? cfg.username : undefined;
  const tls = 'tls' in cfg && cfg.tls && !url.startsWith('rediss:') ? { tls: {} } : {};
  return { ...parseRedisUrl(url), ...base, ...(username ? { username } : {}), ...(password ? { password } : {}), ...tls, ...extra };
}

/** ioredis accepts a URL only as a separate argument; this turns one into options so both forms share one path. */
function parseRedisUrl(url: string): RedisOptions {
  const u = new URL(url);
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : undefined;
  return {
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: u.port ? Number(u.port) : 6379,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(db !== undefined && Number.isInteger(db) ? { db } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

export function createRedis(target: RedisTarget, role: 'blocking' | 'command', extra: RedisOptions = {}): Redis {
  return new Redis(redisOptions(target, role, extra));
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

/** Where Redis is, for logs and error messages, without credentials. */
export function describeRedis(target: RedisTarget): string {
  if (typeof target === 'string') return redactUrl(target);
  if (target.sentinels) return `Sentinel master "${target.name}" via ${target.sentinels.join(', ')}`;
  return redactUrl(target.url ?? 'redis://127.0.0.1:6379');
}

/** Checks that Redis answers PING within timeoutMs; the error says what to do about it. */
export async function assertRedisReachable(target: RedisTarget, timeoutMs = 3_000): Promise<void> {
  const client = new Redis(
    redisOptions(target, 'command', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, sentinelRetryStrategy: () => null, connectTimeout: timeoutMs }),
  );
  let cause: string | undefined;
  // The rejection only says "Connection is closed."; the error event carries the real cause (ECONNREFUSED, ...).
  client.on('error', (err: Error) => (cause ??= err.message));
  try {
    await client.connect();
    await client.ping();
  } catch (err) {
    const why = cause ?? (err as Error).message;
    const hint =
      typeof target !== 'string' && target.sentinels
        ? 'Check that the Sentinels run and monitor this master name (redis-cli -p 26379 SENTINEL get-master-addr-by-name <name>).'
        : 'Start one (for example: redis-server --port 6379 --bind 127.0.0.1) or point REDIS_URL (or redis.url in the config) at a running Redis.';
    throw new Error(`cannot reach Redis at ${describeRedis(target)} (${why}). ${hint}`);
  } finally {
    client.disconnect();
  }
}
