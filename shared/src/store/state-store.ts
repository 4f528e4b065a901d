import type { Redis } from 'ioredis';
import type { PortalState } from '../core/state';
import { parsePortalState } from '../core/records';
import type { Operation } from './operation';
import { parseOperation, readRecord, type ReportInvalidRecord } from './records';
import type { Keys } from '../runtime/keys';
import { runScript } from './lua-script';

/** Thrown when a write is refused because the writer no longer holds the leader lease. */
export class LeaseLostError extends Error {
  constructor(message = 'leader lease lost') {
    super(message);
    this.name = 'LeaseLostError';
  }
}

// SET every key only while the lease still holds the caller's owner|token value: the fencing check and the
// writes are one atomic script, so a deposed leader can never overwrite its successor's state. ARGV[2] is the
// operation's index entry ("" for none) so an operation is never stored without being listed.
// KEYS: lease, [operations index], [state], [operation]; ARGV: lease value, operation id or '', score, values...
const FENCED_SET = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local k = 2
if ARGV[2] ~= '' then
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
  k = 3
end
local a = 4
while k <= #KEYS do
  redis.call('SET', KEYS[k], ARGV[a])
  k = k + 1
  a = a + 1
end
return 1`;

export class StateStore {
  constructor(
    private readonly redis: Redis,
    private readonly k: Keys,
    /** Where a record that does not parse is reported (it is then read as absent). */
    private readonly report: ReportInvalidRecord = () => undefined,
  ) {}

  async loadState(portal: string): Promise<PortalState | undefined> {
    const key = this.k.portalState(portal);
    return readRecord(await this.redis.get(key), 'state', key, parsePortalState, this.report);
  }

  async loadOperation(id: string): Promise<Operation | undefined> {
    const key = this.k.operation(id);
    return readRecord(await this.redis.get(key), 'operation', key, parseOperation, this.report);
  }

  async recentOperations(portal: string, limit = 20): Promise<Operation[]> {
    const ids = await this.redis.zrevrange(this.k.portalOperations(portal), 0, limit - 1);
    if (!ids.length) return [];
    const keys = ids.map((id) => this.k.operation(id));
    const raws = await this.redis.mget(keys);
    return raws.map((r, i) => readRecord(r, 'operation', keys[i], parseOperation, this.report)).filter((o): o is Operation => o !== undefined);
  }

  /** Writes state and/or an operation atomically, only while `lease` is still the lease value. */
  /** `stateJson`: the state as JSON where the caller already has it (it compares it with what it saved last). */
  async fencedWrite(lease: string, writes: { state?: PortalState; stateJson?: string; operation?: Operation }): Promise<void> {
    const keyList = [this.k.lease];
    const args = [lease];
    const op = writes.operation;
    if (op) {
      keyList.push(this.k.portalOperations(op.portal));
      args.push(op.id, String(op.decidedAt));
    } else {
      args.push('', '');
    }
    if (writes.state) {
      keyList.push(this.k.portalState(writes.state.portal));
      args.push(writes.stateJson ?? JSON.stringify(writes.state));
    }
    if (op) {
      keyList.push(this.k.operation(op.id));
      args.push(JSON.stringify(op));
    }
    const ok = await runScript(this.redis, FENCED_SET, keyList, args);
    if (ok !== 1) throw new LeaseLostError('state write refused: this controller no longer holds the leader lease');
  }
}
