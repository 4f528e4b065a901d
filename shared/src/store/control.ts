import type { ChainableCommander, Redis } from 'ioredis';
import type { Freeze } from '../core/state';
import type { Keys } from '../runtime/keys';
import type { AuditLog, NewAuditEntry, PreparedEntry } from '../audit/audit-log';
import { LeaseLostError } from './state-store';
import type { z } from 'zod';
import { FreezeSchema, parseRecord } from '../core/records';
import { pendingOperation, type NewSwitchIntent, type Operation, type SwitchIntent } from './operation';
import { AckSchema, parseSwitchIntent, readRecord, SwitchIntentSchema, type ReportInvalidRecord } from './records';

// One intent per portal, and none while an operation runs: the check and the write are one script, so two
// concurrent switchover requests can never both be accepted.
const REQUEST = `
local cur = redis.call('GET', KEYS[1])
if cur then return 'intent:' .. cjson.decode(cur).id end
local st = redis.call('GET', KEYS[2])
if st then
  local s = cjson.decode(st)
  if type(s.inflight) == 'table' then return 'inflight:' .. s.inflight.operationId end
end
-- The audit entry is chained to the head it was prepared against (audit-log.ts); a moved head means prepare again.
if ARGV[4] ~= '' and (redis.call('HGET', KEYS[6], 'hash') or '') ~= ARGV[5] then return 'retry:' end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[3], ARGV[8])
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[2])
redis.call('INCR', KEYS[7])
-- The audit entry is written in the same step, so it can never appear after the operation it asked for.
if ARGV[4] ~= '' then
  local id = redis.call('XADD', KEYS[5], '*', 'e', ARGV[4], 'h', ARGV[6])
  redis.call('HSET', KEYS[6], 'hash', ARGV[6], 'seq', ARGV[7], 'id', id)
  return 'ok:' .. id
end
return 'ok:'`;

// The leader takes an intent: only while it holds the lease and only the exact intent it read.
const TAKE = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if redis.call('GET', KEYS[2]) ~= ARGV[2] then return 2 end
redis.call('DEL', KEYS[2])
if ARGV[3] ~= '' then redis.call('SET', KEYS[3], ARGV[3]) end
redis.call('SET', KEYS[4], ARGV[4])
redis.call('INCR', KEYS[5])
return 1`;

export interface ControlRecords {
  /** `raw`: the stored JSON, which the leader hands back to take exactly the request it judged. */
  intent?: { raw: string; request: SwitchIntent };
  freeze?: Freeze;
  ack?: Ack;
}

export type Ack = z.output<typeof AckSchema>;

/** Portals whose three control records one MGET reads. */
const READ_CHUNK = 256;

/** The records the API writes and the leader reads: switch intents, freezes and acknowledgements. */
export class ControlStore {
  constructor(
    private readonly redis: Redis,
    private readonly k: Keys,
    /** Where a record that does not parse is reported (it is then read as absent). */
    private readonly report: ReportInvalidRecord = () => undefined,
  ) {}

  /**
   * Stores a switchover request as the portal's intent (and, for GET /operations, as a pending operation), with its
   * audit entry chained in the same atomic step, or says what is in the way.
   */
  async requestOperation(
    request: NewSwitchIntent,
    audit?: { log: AuditLog; entry: NewAuditEntry },
  ): Promise<{ ok: true; auditId: string; operation: Operation } | { ok: false; blockedBy: 'intent' | 'inflight'; operationId: string }> {
    const intent = SwitchIntentSchema.parse(request);
    const op = pendingOperation(intent);
    const json = JSON.stringify(intent);
    let blocked: { ok: false; blockedBy: 'intent' | 'inflight'; operationId: string } | undefined;
    const attempt = async (p?: PreparedEntry): Promise<string> => {
      const r = String(
        await this.redis.eval(
          REQUEST,
          7,
          this.k.portalIntent(op.portal),
          this.k.portalState(op.portal),
          this.k.operation(op.id),
          this.k.portalOperations(op.portal),
          this.k.audit,
          `${this.k.audit}:head`,
          this.k.controlChanged,
          json,
          op.id,
          String(op.requestedAt ?? Date.now()),
          p?.e ?? '',
          p?.expectHead ?? '',
          p?.h ?? '',
          String(p?.seq ?? ''),
          JSON.stringify(op),
        ),
      );
      if (r === 'retry:') return '';
      if (r.startsWith('ok:')) return r.slice(3) || 'ok';
      const [kind, id] = r.split(':');
      blocked = { ok: false, blockedBy: kind === 'intent' ? 'intent' : 'inflight', operationId: id };
      return 'blocked';
    };
    const id = audit ? await audit.log.withChain(audit.entry, attempt) : await attempt();
    if (blocked) return blocked;
    return { ok: true, auditId: id, operation: op };
  }

  async read(portals: string[]): Promise<Map<string, ControlRecords>> {
    // One MGET per READ_CHUNK portals rather than one per portal: a full read at 12,500 portals was 12,500 commands
    // held until their replies came, much of the garbage the leader's old generation collected.
    const pipe = this.redis.pipeline();
    for (let i = 0; i < portals.length; i += READ_CHUNK) {
      pipe.mget(portals.slice(i, i + READ_CHUNK).flatMap((p) => [this.k.portalIntent(p), this.k.portalFreeze(p), this.k.portalAck(p)]));
    }
    const replies = (await pipe.exec()) ?? [];
    const out = new Map<string, ControlRecords>();
    portals.forEach((p, i) => {
      const [err, chunk] = replies[Math.floor(i / READ_CHUNK)] ?? [new Error('no reply')];
      if (err) throw err;
      const at = (i % READ_CHUNK) * 3;
      const [intent, freeze, ack] = (chunk as (string | null)[]).slice(at, at + 3);
      const request = readRecord(intent, 'intent', this.k.portalIntent(p), parseSwitchIntent, this.report);
      out.set(p, {
        intent: request && intent ? { raw: intent, request } : undefined,
        freeze: readRecord(freeze, 'freeze', this.k.portalFreeze(p), (v) => parseRecord(FreezeSchema, v), this.report),
        ack: readRecord(ack, 'ack', this.k.portalAck(p), (v) => parseRecord(AckSchema, v), this.report),
      });
    });
    return out;
  }

  /** Removes the intent and records the operation (and state) in one fenced step. */
  async takeIntent(lease: string, portal: string, intentRaw: string, writes: { stateJson?: string; operation: Operation }): Promise<boolean> {
    const r = await this.redis.eval(
      TAKE,
      5,
      this.k.lease,
      this.k.portalIntent(portal),
      this.k.portalState(portal),
      this.k.operation(writes.operation.id),
      this.k.controlChanged,
      lease,
      intentRaw,
      writes.stateJson ?? '',
      JSON.stringify(writes.operation),
    );
    if (r === 0) throw new LeaseLostError('intent not taken: this controller no longer holds the leader lease');
    return r === 1;
  }

  async freeze(portal: string, f: Freeze): Promise<void> {
    const json = JSON.stringify(f);
    const m = this.redis.multi();
    if (f.until !== undefined) m.set(this.k.portalFreeze(portal), json, 'PXAT', f.until);
    else m.set(this.k.portalFreeze(portal), json);
    await execAll(m.incr(this.k.controlChanged));
  }

  /** Returns the freeze that was lifted, if there was one. */
  async unfreeze(portal: string): Promise<Freeze | undefined> {
    const key = this.k.portalFreeze(portal);
    const [lifted] = await execAll(this.redis.multi().getdel(key).incr(this.k.controlChanged));
    return readRecord(lifted as string | null, 'freeze', key, (v) => parseRecord(FreezeSchema, v), this.report);
  }

  async acknowledge(portal: string, ack: Ack): Promise<void> {
    await execAll(this.redis.multi().set(this.k.portalAck(portal), JSON.stringify(ack)).incr(this.k.controlChanged));
  }
}

/** Runs a MULTI and returns its replies, throwing the first command error (ioredis reports them per command). */
export async function execAll(m: ChainableCommander): Promise<unknown[]> {
  const replies = (await m.exec()) ?? [];
  const failed = replies.find(([err]) => err);
  if (failed) throw failed[0] as Error;
  return replies.map(([, value]) => value);
}
