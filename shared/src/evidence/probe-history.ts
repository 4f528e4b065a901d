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
 * The recent probe results of each portal (newest first, the last 2000), written by the leader controller in one
 * pipeline per evaluation tick, so an evidence bundle can show every vantage's results around a cut.
 */
export class ProbeHistory {
  private buffer: { portal: string; rec: ProbeRecord }[] = [];

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
    const portals = new Set<string>();
    for (const { portal, rec } of batch) {
      m.lpush(this.key(portal), JSON.stringify(rec));
      portals.add(portal);
    }
    for (const p of portals) m.ltrim(this.key(p), 0, KEEP - 1);
    await m.exec();
  }

  /** Results of a portal with `at` between from and to, oldest first. */
  async between(portal: string, from: number, to: number): Promise<ProbeRecord[]> {
    const all = (await this.redis.lrange(this.key(portal), 0, -1)).map((s) => JSON.parse(s) as ProbeRecord);
    return all.filter((r) => r.at >= from && r.at <= to).sort((a, b) => a.at - b.at);
  }
}
