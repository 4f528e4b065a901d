import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { LEASE_TRUST_FRACTION, LeaseLostError, type FenceGuard, type Keys } from '@portal-failover/shared';

// Acquire the lease. Every acquisition gets a fresh, strictly larger fencing token from INCR, even when the key
// still names this owner (a process that dropped its hold after a failed renewal and wins again): anything the
// old hold started must stay fenced out, so the old token must never become valid again.
// Tokens never go backwards, even when Redis loses the counter (restarted empty, a Sentinel promotion that lost
// writes): a token is at least ARGV[3], the caller's clock in microseconds (ms x 1000, exact in a double until the
// year 2255), so a counter that starts again from nothing still starts above every token handed out before, as
// long as fewer than 1000 leases per millisecond were taken and clocks do not step back across the loss. Providers
// that keep the last writer's token (Route 53's epoch record) keep accepting the new leader and refusing the old.
const ACQUIRE = `
local cur = redis.call('GET', KEYS[1])
if cur then
  local owner = string.match(cur, '^(.*)|%d+$')
  if owner ~= ARGV[1] then return -1 end
end
local token = redis.call('INCR', KEYS[2])
if token < tonumber(ARGV[3]) then
  token = tonumber(ARGV[3])
  redis.call('SET', KEYS[2], ARGV[3])
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. string.format('%d', token), 'PX', ARGV[2])
return token`;

const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`;

const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

export interface LeaseHold {
  token: number;
  value: string;
}

/**
 * A Redis lease (SET NX PX) with a fencing token. Validity is also tracked locally: if renewals stop succeeding,
 * the holder considers itself deposed before the key can expire, leaving a safety margin for clock drift.
 */
export class Lease {
  readonly owner: string;
  private hold: LeaseHold | undefined;
  private validUntil = 0;

  constructor(
    private readonly redis: Redis,
    private readonly k: Keys,
    private readonly ttlMs: number,
    owner?: string,
    private readonly now: () => number = Date.now,
  ) {
    this.owner = owner ?? `${process.pid}-${randomUUID().slice(0, 8)}`;
  }

  /** When this process stops trusting its hold (0 when it holds none): 80 % of the TTL after the last renewal began. */
  get validUntilMs(): number {
    return this.hold ? this.validUntil : 0;
  }

  get current(): LeaseHold | undefined {
    return this.hold && this.now() < this.validUntil ? this.hold : undefined;
  }

  /**
   * The time (ms since the epoch) until which this process may still act with `hold`, or 0 when it no longer
   * holds it. Provider calls started now must finish (or be aborted) before it.
   */
  validUntilFor(hold: LeaseHold): number {
    return this.current?.value === hold.value ? this.validUntil : 0;
  }

  /** Tries to become (or stay) leader; returns the hold or undefined. */
  async tryAcquire(): Promise<LeaseHold | undefined> {
    const started = this.now();
    if (this.hold) {
      const ok = await this.redis.eval(RENEW, 1, this.k.lease, this.hold.value, String(this.ttlMs));
      if (ok === 1) {
        this.validUntil = started + this.ttlMs * LEASE_TRUST_FRACTION;
        return this.hold;
      }
      this.hold = undefined;
      this.validUntil = 0;
    }
    const token = Number(await this.redis.eval(ACQUIRE, 2, this.k.lease, this.k.fence, this.owner, String(this.ttlMs), String(Math.floor(this.now()) * 1000)));
    if (token < 0) return undefined;
    this.hold = { token, value: `${this.owner}|${token}` };
    this.validUntil = started + this.ttlMs * LEASE_TRUST_FRACTION;
    return this.hold;
  }

  async release(): Promise<void> {
    if (!this.hold) return;
    const value = this.hold.value;
    this.hold = undefined;
    this.validUntil = 0;
    await this.redis.eval(RELEASE, 1, this.k.lease, value);
  }

  /** Forget the hold locally (after a failed renewal or a refused fenced write). */
  drop(): void {
    this.hold = undefined;
    this.validUntil = 0;
  }

  /** A guard for one operation: valid only while this exact token is held. */
  guard(hold: LeaseHold): FenceGuard {
    return {
      token: hold.token,
      deadline: () => this.validUntilFor(hold),
      assertHeld: async () => {
        if (this.current?.value !== hold.value) throw new LeaseLostError(`lease with fencing token ${hold.token} is no longer held`);
        const value = await this.redis.get(this.k.lease);
        if (value !== hold.value) {
          this.drop();
          throw new LeaseLostError(`lease with fencing token ${hold.token} is no longer held`);
        }
      },
    };
  }
}
