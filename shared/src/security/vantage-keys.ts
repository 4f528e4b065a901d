import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Vantage } from '../config/vantages';

/**
 * The key of the implied vantage (no `vantages` list): created once per installation in Redis (SET NX) and read
 * by the checker and the controller, so a one-machine install signs its results without a new config field. Its
 * trust is Redis's: whoever can write the results queue can read it, which is what the single vantage had before.
 */
export function impliedVantageKeyName(prefix: string, vantage: string): string {
  return `${prefix}:vantage:${vantage}:key`;
}

export async function impliedVantageKey(redis: Pick<Redis, 'set' | 'get'>, prefix: string, vantage: string): Promise<string> {
  const name = impliedVantageKeyName(prefix, vantage);
  await redis.set(name, randomBytes(32).toString('hex'), 'NX');
  const key = await redis.get(name);
  if (!key) throw new Error(`cannot read the implied key of vantage ${vantage} from Redis`);
  return key;
}

/** The signing key of one vantage: its declared secret, or the implied installation key. */
export async function vantageKey(v: Vantage, redis: Pick<Redis, 'set' | 'get'>, prefix: string): Promise<string> {
  if (v.key) return v.key.reveal();
  return impliedVantageKey(redis, prefix, v.name);
}
