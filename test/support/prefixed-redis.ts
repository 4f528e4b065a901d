import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { sharedRedisUrl } from './redis-server';

/**
 * A connection to the run's shared Redis for one test file, under a key prefix of its own (`<name><random>`), whose
 * keys are deleted after the file: the shared Redis is never flushed. Call at the top of the file.
 */
export function prefixedRedis(name: string): { prefix: string; redis: () => Redis } {
  const prefix = `${name}${randomBytes(5).toString('hex')}`;
  let redis: Redis | undefined;
  beforeAll(() => {
    redis = new Redis(sharedRedisUrl(), { maxRetriesPerRequest: 1 });
  });
  afterAll(async () => {
    if (!redis) return;
    const found = await redis.keys(`${prefix}:*`);
    if (found.length) await redis.del(...found);
    await redis.quit();
  });
  return {
    prefix,
    redis: () => {
      if (!redis) throw new Error('prefixedRedis: the connection opens in beforeAll');
      return redis;
    },
  };
}
