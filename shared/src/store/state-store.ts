import type { Redis } from 'ioredis';
import type { PortalState } from '../core/state';
import type { Operation } from './operation';
import type { Keys } from '../runtime/keys';

/** Thrown when a write is refused because the writer no longer holds the leader lease. */
export class LeaseLostError extends Error {
  constructor(message = 'leader lease lost') {
    super(message);
    this.name = 'LeaseLostError';
  }
}

// SET every key only while the lease still holds the caller's owner|token value: the fencing check and the
// writes are one atomic script, so a deposed leader can never overwrite its successor's state.
const FENCED_SET = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
for i = 2, #KEYS do redis.call('SET', KEYS[i], ARGV[i]) end
return 1`;

export interface FencedWriter {
  leaseValue(): string;
}

export class StateStore {
  constructor(
    private readonly redis: Redis,
    private readonly k: Keys,
  ) {}

  async loadState(portal: string): Promise<PortalState | undefined> {
    const raw = await this.redis.get(this.k.portalState(portal));
    return raw ? (JSON.parse(raw) as PortalState) : undefined;
  }

  async loadOperation(id: string): Promise<Operation | undefined> {
    const raw = await this.redis.get(this.k.operation(id));
    return raw ? (JSON.parse(raw) as Operation) : undefined;
  }

  async recentOperations(portal: string, limit = 20): Promise<Operation[]> {
    const ids = await this.redis.zrevrange(this.k.portalOperations(portal), 0, limit - 1);
    if (!ids.length) return [];
    const raws = await this.redis.mget(ids.map((id) => this.k.operation(id)));
    return raws.filter((r): r is string => r !== null).map((r) => JSON.parse(r) as Operation);
  }

  /** Writes state and/or an operation atomically, only while `lease` is still the lease value. */
  async fencedWrite(lease: string, writes: { state?: PortalState; operation?: Operation }): Promise<void> {
    const keyList = [this.k.lease];
    const values = [lease];
    if (writes.state) {
      keyList.push(this.k.portalState(writes.state.portal));
      values.push(JSON.stringify(writes.state));
    }
    if (writes.operation) {
      keyList.push(this.k.operation(writes.operation.id));
      values.push(JSON.stringify(writes.operation));
    }
    const ok = await this.redis.eval(FENCED_SET, keyList.length, ...keyList, ...values);
    if (ok !== 1) throw new LeaseLostError('state write refused: this controller no longer holds the leader lease');
    if (writes.operation) {
      await this.redis.zadd(this.k.portalOperations(writes.operation.portal), writes.operation.decidedAt, writes.operation.id);
    }
  }
}
