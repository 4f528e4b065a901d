// One file on purpose: appending, trimming with checkpoints, querying and verifying all depend on the same chain
// head and scripts; the pure chain rules (hashing, verification) live in chain.ts.
import type { Redis } from 'ioredis';
import { runScript } from '../store/lua-script';
import { canonicalJson, ChainVerifier, GENESIS, sha256Hex, type ChainHead, type TrimmedHead, type VerifyResult } from './chain';

export type AuditType =
  | 'decision'
  | 'operation.requested'
  | 'operation.started'
  | 'operation.finished'
  | 'operation.rejected'
  /** A leader lost its lease with a provider write in flight: that write may have landed late. */
  | 'operation.interrupted'
  | 'freeze'
  | 'unfreeze'
  | 'ack'
  | 'alert.received'
  /** A refused API request (401/403), with `data.count` identical ones folded into one entry per window. */
  | 'api.denied'
  /** The token file was re-read (on change, SIGHUP or an admin's request), or a re-read was refused. */
  | 'tokens.reloaded'
  | 'audit.checkpoint'
  | 'drill'
  /** The traffic steps no longer route to the recorded active site (someone edited DNS, a stale write landed). */
  | 'drift.detected'
  /** The leader had no record of the routing and took the site every traffic step points to. */
  | 'routing.adopted'
  /** The leader had no record and the traffic steps disagree, point elsewhere or cannot be read. */
  | 'routing.unknown'
  /** Redis lost the controller's records; the leader wrote back what it still knew (state, freeze, acknowledgement). */
  | 'state.restored'
  /** A risk window was announced or withdrawn through the API. */
  | 'risk-window.added'
  | 'risk-window.removed'
  /** A risk window changed phase (preparing, active, ended), with the standby's readiness at that moment. */
  | 'risk-window.phase'
  /** The leader lowered or restored the DNS TTLs for a risk window (verified, or failed with why). */
  | 'risk-window.ttl';

/** One audit record. `actor` is a token name, `controller:<owner>` or `alertmanager`; never a secret. */
export interface AuditEntry {
  /** Redis stream id (`<ms>-<seq>`): time-ordered and usable as a paging cursor. */
  id: string;
  at: string;
  type: AuditType;
  portal?: string;
  actor: string;
  client?: string;
  reason?: string;
  operation?: string;
  data?: Record<string, unknown>;
  /** Position in the hash chain (1 for the first entry ever written). */
  seq?: number;
  /** `hash` of the previous entry (GENESIS for the first). */
  prevHash?: string;
  /** SHA-256 of this entry's canonical JSON, which includes prevHash. */
  hash?: string;
}

export type NewAuditEntry = Omit<AuditEntry, 'id' | 'at' | 'seq' | 'prevHash' | 'hash'>;

/** An entry ready to be written: its canonical text and hash, valid only while `expectHead` is the head. */
export interface PreparedEntry {
  expectHead: string;
  e: string;
  h: string;
  seq: number;
}

/** Thrown when the chain head kept moving under a writer for too many attempts (a hot loop of writers). */
export class AuditContentionError extends Error {}

export interface AuditQuery {
  portal?: string;
  type?: string;
  /** Epoch ms, inclusive. */
  since?: number;
  /** Epoch ms, inclusive. */
  until?: number;
  /** Continue after this entry id (the previous page's `next`). */
  after?: string;
  limit?: number;
}

const SECRETISH = /(secret|password|token|apikey|api_key|authorization)/i;

/** Audit data is shown to viewers and exported: drop anything keyed like a credential, whatever the caller passed. */
function scrub(value: unknown, depth = 0): unknown {
  if (depth > 8 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => scrub(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[k] = SECRETISH.test(k) ? '[redacted]' : scrub(v, depth + 1);
  return out;
}

/** Bounds on one entry, so the stream's size is at most about maxEntries × (MAX_DATA_BYTES + MAX_REASON_CHARS). */
export const AUDIT_LIMITS = { reasonChars: 1000, dataBytes: 8192 } as const;

/**
 * Whatever a caller passes, an entry stays small: a longer reason is cut and marked, `data` whose JSON is larger
 * than the limit is replaced by its beginning (as text) and a mark. Marked, not silent: a reader sees what was cut.
 */
function bounded(entry: NewAuditEntry): NewAuditEntry {
  let out = entry;
  if (entry.reason !== undefined && entry.reason.length > AUDIT_LIMITS.reasonChars) {
    out = { ...out, reason: `${entry.reason.slice(0, AUDIT_LIMITS.reasonChars)}… [truncated ${entry.reason.length - AUDIT_LIMITS.reasonChars} characters]` };
  }
  if (entry.data !== undefined) {
    const text = JSON.stringify(entry.data);
    const bytes = Buffer.byteLength(text);
    if (bytes > AUDIT_LIMITS.dataBytes) {
      out = { ...out, data: { truncated: true, originalBytes: bytes, head: Buffer.from(text).subarray(0, AUDIT_LIMITS.dataBytes / 2).toString('utf8') } };
    }
  }
  return out;
}

/**
 * Append-only, hash-chained audit trail in a Redis stream (see chain.ts for the chain itself).
 *
 * Concurrency: any number of processes append. Each prepares its entries against the head it read; the APPEND_MANY
 * script writes them only if that is still the head, otherwise the writer re-reads and retries. So the chain is a
 * single line whatever the interleaving. Trimming (by age: `retention`; by size: `maxEntries`) is the same kind
 * of script and writes an `audit.checkpoint` entry naming the last removed entry.
 */
// KEYS: stream, head. ARGV: expected head, checkpoint e, h, seq, id of the last entry to remove, its hash.
const TRIM = `
if (redis.call('HGET', KEYS[2], 'hash') or '') ~= ARGV[1] then return '' end
local cut = redis.call('XRANGE', KEYS[1], ARGV[5], ARGV[5])
if #cut ~= 1 then return '' end
local f = cut[1][2]
local h = ''
for i = 1, #f, 2 do if f[i] == 'h' then h = f[i + 1] end end
if h ~= ARGV[6] then return '' end
local ms, sq = string.match(ARGV[5], '^(%d+)%-(%d+)$')
redis.call('XTRIM', KEYS[1], 'MINID', ms .. '-' .. (tonumber(sq) + 1))
local id = redis.call('XADD', KEYS[1], '*', 'e', ARGV[2], 'h', ARGV[3])
redis.call('HSET', KEYS[2], 'hash', ARGV[3], 'seq', ARGV[4], 'id', id)
return id`;

// KEYS: stream, head. ARGV: expected head, seq of the last entry, then e and h of each entry in order. Returns the
// stream ids, or an empty list when the head moved.
const APPEND_MANY = `
if (redis.call('HGET', KEYS[2], 'hash') or '') ~= ARGV[1] then return {} end
local ids = {}
for i = 3, #ARGV, 2 do ids[#ids + 1] = redis.call('XADD', KEYS[1], '*', 'e', ARGV[i], 'h', ARGV[i + 1]) end
redis.call('HSET', KEYS[2], 'hash', ARGV[#ARGV], 'seq', ARGV[2], 'id', ids[#ids])
return ids`;

const ATTEMPTS = 100;
/** Entries written by one script call at most (each is at most about 9 KB, see AUDIT_LIMITS). */
const APPEND_BATCH = 100;

interface Waiting {
  entry: NewAuditEntry;
  resolve: (id: string) => void;
  reject: (err: Error) => void;
}
const VERIFY_BATCH = 2000;

export interface AuditLogOptions {
  /** Size cap: beyond it, the oldest entries are trimmed (with a checkpoint). */
  maxEntries?: number;
}

export class AuditLog {
  readonly streamKey: string;
  readonly headKey: string;
  private readonly maxEntries: number;
  /** Appends of this process wait here and are written in order, several per script call (see append). */
  private waiting: Waiting[] = [];
  private draining = false;

  constructor(
    private readonly redis: Redis,
    private readonly key: string,
    private readonly retentionMs: number,
    private readonly now: () => number = Date.now,
    opts: AuditLogOptions = {},
  ) {
    this.streamKey = key;
    this.headKey = `${key}:head`;
    this.maxEntries = opts.maxEntries ?? 200_000;
  }

  async head(): Promise<ChainHead | undefined> {
    const [hash, seq, id] = await this.redis.hmget(this.headKey, 'hash', 'seq', 'id');
    return hash && seq && id ? { hash, seq: Number(seq), id } : undefined;
  }

  /** Canonical text and hash of an entry placed after the current head. Retry with a fresh one on contention. */
  async prepare(entry: NewAuditEntry): Promise<PreparedEntry> {
    const head = await this.head();
    return this.prepareAfter(entry, head?.hash ?? '', head?.seq ?? 0);
  }

  /** An entry placed after the entry whose hash and seq are given ('' and 0: the chain is empty). */
  private prepareAfter(entry: NewAuditEntry, hash: string, seq: number): PreparedEntry {
    const body = scrub({ ...bounded(scrub(entry) as NewAuditEntry), at: new Date(this.now()).toISOString(), seq: seq + 1, prevHash: hash || GENESIS });
    const e = canonicalJson(body);
    return { expectHead: hash, e, h: sha256Hex(e), seq: seq + 1 };
  }

  /**
   * Runs `write` with freshly prepared entries until it lands on an unchanged head. `write` returns the stream id,
   * or '' when the head moved (the script refused).
   */
  async withChain(entry: NewAuditEntry, write: (p: PreparedEntry) => Promise<string>): Promise<string> {
    for (let i = 0; i < ATTEMPTS; i++) {
      const id = await write(await this.prepare(entry));
      if (id) return id;
    }
    throw new AuditContentionError(`audit chain head kept moving: ${entry.type} not written after ${ATTEMPTS} attempts`);
  }

  /**
   * Appends one entry; resolves with its stream id once it is written (and the caps applied). Appends of this process
   * are queued and written in order, up to APPEND_BATCH per script call: when a thousand portals record at once (a
   * new leader reading every portal's routing), concurrent appends would each race for the head and retry, and the
   * chain would take quadratic time or give up on some of them.
   */
  append(entry: NewAuditEntry): Promise<string> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ entry, resolve, reject });
      void this.drain();
    });
  }

  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.waiting.length) {
        const batch = this.waiting.splice(0, APPEND_BATCH);
        try {
          const ids = await this.appendMany(batch.map((w) => w.entry));
          await this.trimFrom(ids[ids.length - 1]);
          batch.forEach((w, i) => w.resolve(ids[i]));
        } catch (err) {
          for (const w of batch) w.reject(err as Error);
        }
      }
    } finally {
      this.draining = false;
    }
  }

  /** Writes entries as consecutive links of the chain in one script call, retrying on a moved head. */
  private async appendMany(entries: NewAuditEntry[]): Promise<string[]> {
    for (let i = 0; i < ATTEMPTS; i++) {
      const head = await this.head();
      let hash = head?.hash ?? '';
      let seq = head?.seq ?? 0;
      const args: string[] = [hash, ''];
      for (const entry of entries) {
        const p = this.prepareAfter(entry, hash, seq);
        args.push(p.e, p.h);
        hash = p.h;
        seq = p.seq;
      }
      args[1] = String(seq);
      const ids = (await runScript(this.redis, APPEND_MANY, [this.key, this.headKey], args)) as string[];
      if (ids.length === entries.length) return ids.map(String);
    }
    throw new AuditContentionError(`audit chain head kept moving: ${entries.map((e) => e.type).join(', ')} not written after ${ATTEMPTS} attempts`);
  }

  /**
   * Applies both caps, each with its checkpoint. Horizons are taken from an id just written (Redis's clock, not
   * ours), so a skewed application clock can never trim entries younger than the retention. A little slack on
   * each cap keeps this to one checkpoint per batch of removals, not one per append.
   */
  async trimFrom(id: string): Promise<void> {
    const idMs = Number(id.split('-')[0]);
    const oldest = await this.redis.xrange(this.key, '-', '+', 'COUNT', 1);
    if (!oldest.length) return;
    const oldestMs = Number(oldest[0][0].split('-')[0]);
    const slackMs = Math.min(Math.max(this.retentionMs / 100, 60_000), 3_600_000);
    if (Number.isFinite(idMs) && idMs > 0 && oldestMs < idMs - this.retentionMs - slackMs) {
      const horizon = idMs - this.retentionMs;
      const last = await this.redis.xrevrange(this.key, `(${horizon}-0`, '-', 'COUNT', 1);
      if (last.length) await this.trimThrough(last[0][0], 'age');
    }
    const len = await this.redis.xlen(this.key);
    const slack = Math.max(1, Math.floor(this.maxEntries / 50));
    if (len > this.maxEntries) {
      // Down to the cap minus the slack: the checkpoint itself is one more entry.
      const remove = len - (this.maxEntries - slack);
      const ids = await this.redis.xrange(this.key, '-', '+', 'COUNT', remove);
      if (ids.length) await this.trimThrough(ids[ids.length - 1][0], 'size');
    }
  }

  /** Removes every entry up to and including `lastId`, and records in a checkpoint which entry that was. */
  async trimThrough(lastId: string, why: 'age' | 'size'): Promise<string | undefined> {
    for (let i = 0; i < ATTEMPTS; i++) {
      const cut = await this.redis.xrange(this.key, lastId, lastId);
      if (!cut.length) return undefined; // someone else trimmed it already
      const fields = cut[0][1];
      const h = fields[fields.indexOf('h') + 1];
      const e = fields[fields.indexOf('e') + 1];
      if (fields.indexOf('h') < 0 || !e) return undefined; // unchained legacy entries are left to the age trim
      const seq = Number((JSON.parse(e) as { seq?: number }).seq);
      const trimmedThrough: TrimmedHead = { id: lastId, seq, hash: h };
      const p = await this.prepare({ type: 'audit.checkpoint', actor: 'audit', reason: why === 'age' ? 'retention' : 'size cap', data: { trimmedThrough } });
      const id = String(await this.redis.eval(TRIM, 2, this.key, this.headKey, p.expectHead, p.e, p.h, String(p.seq), lastId, h));
      if (id) return id;
    }
    throw new AuditContentionError('audit chain head kept moving: trim not done');
  }

  async count(): Promise<number> {
    return this.redis.xlen(this.key);
  }

  /** Reads the whole stream in order and checks every link; optionally compares one entry with a witness's checkpoint. */
  async verify(want?: { seq: number; hash: string }): Promise<VerifyResult> {
    const v = new ChainVerifier(want);
    let cursor = '-';
    let head: ChainHead | undefined;
    // Read to the end, then read the head: if writers appended meanwhile, read on to reach it (a few rounds at
    // most), so an entry appended outside the chain after the head is seen, and a busy log still verifies.
    for (let round = 0; round < 5; round++) {
      for (;;) {
        const batch = await this.redis.xrange(this.key, cursor, '+', 'COUNT', VERIFY_BATCH);
        v.feed(
          batch.map(([id, f]) => {
            const ei = f.indexOf('e');
            const hi = f.indexOf('h');
            return { id, e: ei >= 0 && ei % 2 === 0 ? f[ei + 1] : undefined, h: hi >= 0 && hi % 2 === 0 ? f[hi + 1] : undefined };
          }),
        );
        if (batch.length) cursor = `(${batch[batch.length - 1][0]}`;
        if (batch.length < VERIFY_BATCH) break;
      }
      head = await this.head();
      if (!head || v.lastSeq >= head.seq) break;
    }
    return v.finish(head);
  }

  async query(q: AuditQuery = {}): Promise<{ entries: AuditEntry[]; next?: string }> {
    const limit = Math.min(Math.max(q.limit ?? 100, 1), 1000);
    const start = q.after ? `(${q.after}` : q.since !== undefined ? String(q.since) : '-';
    const end = q.until !== undefined ? String(q.until) : '+';
    const entries: AuditEntry[] = [];
    let cursor = start;
    // Filters apply after reading, so keep reading batches until the page is full or the range is exhausted.
    for (;;) {
      const batch = await this.redis.xrange(this.key, cursor, end, 'COUNT', limit * 2);
      for (const [id, fields] of batch) {
        const raw = fields[fields.indexOf('e') + 1];
        if (!raw) continue;
        const hi = fields.indexOf('h');
        const e: AuditEntry = { id, ...(JSON.parse(raw) as Omit<AuditEntry, 'id'>), ...(hi >= 0 && hi % 2 === 0 ? { hash: fields[hi + 1] } : {}) };
        if (q.portal && e.portal !== q.portal) continue;
        if (q.type && e.type !== q.type && !e.type.startsWith(`${q.type}.`)) continue;
        entries.push(e);
        if (entries.length === limit) return { entries, next: id };
      }
      if (batch.length < limit * 2) return { entries };
      cursor = `(${batch[batch.length - 1][0]}`;
    }
  }
}
