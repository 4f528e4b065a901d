import type { Redis } from 'ioredis';
import type { CheckResult } from '../core/observation';

/** One probe as the evidence bundle lists it. */
export interface ProbeRecord {
  at: number;
  site: string;
  check: string;
  vantage: string;
  ok: boolean;
  status?: number;
  durationMs: number;
  reason?: string;
  detail?: string;
}

const KEEP = 2000;
/**
 * A portal's list is trimmed back to KEEP after this many pushes of this process, so it holds at most KEEP + this
 * many entries and reads take the newest KEEP. Trimming at every flush was an LTRIM per portal per tick: at 12,500
 * portals about as many commands as the pushes themselves.
 */
const TRIM_EVERY = 100;

/**
 * The recent probe results of each portal (newest first, the last 2000), written by the leader controller in one
 * pipeline per evaluation tick, so an evidence bundle can show every vantage's results around a cut.
 */
export class ProbeHistory {
  private buffer: { portal: string; rec: ProbeRecord }[] = [];
  private readonly pushedSinceTrim = new Map<string, number>();

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private key(portal: string): string {
    return `${this.prefix}:portal:${portal}:probes`;
  }

  add(r: CheckResult): void {
    // Bounded even if flushes fail for a while (Redis away): the oldest buffered results go first.
    if (this.buffer.length >= KEEP * 4) this.buffer.shift();
    this.buffer.push({ portal: r.portal, rec: { at: r.at, site: r.site, check: r.check, vantage: r.vantage, ok: r.ok, status: r.status, durationMs: r.durationMs, reason: r.reason, detail: r.detail } });
  }

  async flush(): Promise<void> {
    if (!this.buffer.length) return;
    const batch = this.buffer;
    this.buffer = [];
    const m = this.redis.multi();
    const pushed = new Map<string, number>();
    for (const { portal, rec } of batch) {
      m.lpush(this.key(portal), JSON.stringify(rec));
      pushed.set(portal, (pushed.get(portal) ?? 0) + 1);
    }
    const trimmed: string[] = [];
    for (const [p, n] of pushed) {
      const since = (this.pushedSinceTrim.get(p) ?? 0) + n;
      if (since < TRIM_EVERY) {
        this.pushedSinceTrim.set(p, since);
        continue;
      }
      m.ltrim(this.key(p), 0, KEEP - 1);
      trimmed.push(p);
    }
    await m.exec();
    // Counted again only once the trim is written: a failed flush trims at the next one.
    for (const p of trimmed) this.pushedSinceTrim.delete(p);
  }

  /** Results of a portal with `at` between from and to, oldest first. */
  async between(portal: string, from: number, to: number): Promise<ProbeRecord[]> {
    const all = (await this.redis.lrange(this.key(portal), 0, KEEP - 1)).map((s) => JSON.parse(s) as ProbeRecord);
    return all.filter((r) => r.at >= from && r.at <= to).sort((a, b) => a.at - b.at);
  }
}
