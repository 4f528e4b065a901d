import type { Redis } from 'ioredis';

export type AuditType =
  | 'decision'
  | 'operation.requested'
  | 'operation.started'
  | 'operation.finished'
  | 'operation.rejected'
  | 'freeze'
  | 'unfreeze'
  | 'ack'
  | 'alert.received'
  | 'api.denied';

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
}

export type NewAuditEntry = Omit<AuditEntry, 'id' | 'at'>;

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

/**
 * Append-only audit trail in a Redis stream. Trimming is by age only (MINID), never by count, so nothing younger
 * than the configured retention is ever dropped, however busy a day was.
 */
export class AuditLog {
  constructor(
    private readonly redis: Redis,
    private readonly key: string,
    private readonly retentionMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.streamKey = key;
  }

  readonly streamKey: string;

  async append(entry: NewAuditEntry): Promise<string> {
    const id = (await this.redis.xadd(this.key, '*', 'e', this.serialize(entry))) ?? '';
    await this.trimFrom(id);
    return id;
  }

  /** The stored form of an entry (stamped, scrubbed), for callers that write it inside their own script. */
  serialize(entry: NewAuditEntry): string {
    return JSON.stringify(scrub({ ...entry, at: new Date(this.now()).toISOString() }));
  }

  /**
   * Entry ids carry Redis's clock, so the trim horizon is taken from an id just written, not from ours: a skewed
   * application clock can then never trim entries younger than the retention.
   */
  async trimFrom(id: string): Promise<void> {
    const idMs = Number(id.split('-')[0]);
    if (Number.isFinite(idMs) && idMs > 0) await this.redis.xtrim(this.key, 'MINID', '~', String(Math.max(0, idMs - this.retentionMs)));
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
        const e = { id, ...(JSON.parse(raw) as Omit<AuditEntry, 'id'>) };
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
