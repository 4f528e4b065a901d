import type { Redis } from 'ioredis';

/**
 * Per-minute availability of what citizens could reach (the active site's health by quorum), written by the
 * leader controller and read by the public status page.
 *
 * Storage: one Redis string per portal per UTC day, 1440 bytes, one byte per minute: 0 = no data for that
 * minute, 1 + percent of samples that were up otherwise (1..101). A day key expires after the longest window
 * (90 d) plus a day, so the structure is bounded at ~130 KB per portal without any trimming job.
 */
export const DAY_MS = 86_400_000;
const MINUTE_MS = 60_000;
const KEEP_DAYS = 91;

export const AVAILABILITY_WINDOWS = { '24h': 1, '7d': 7, '30d': 30, '90d': 90 } as const;
export type AvailabilityWindow = keyof typeof AVAILABILITY_WINDOWS;
/** Percent of the minutes with data in which the active site was up, or null when no minute had data. */
export type Availability = Record<AvailabilityWindow, number | null>;

export function availabilityKey(prefix: string, portal: string, day: number): string {
  return `${prefix}:portal:${portal}:avail:${day}`;
}

export class AvailabilityStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  /**
   * Stores minutes' shares of good samples (0..1), each in its portal's day string. Overwrites: the last write of a
   * minute wins. One pipeline for all of them: the leader writes every portal's current minute every 10 s, and a
   * MULTI per portal (12,500 at once) was a sixth of the garbage its old generation collected.
   */
  async writeMinutes(writes: readonly { portal: string; minuteStartMs: number; goodShare: number }[]): Promise<void> {
    if (!writes.length) return;
    const pipe = this.redis.pipeline();
    for (const w of writes) {
      const day = Math.floor(w.minuteStartMs / DAY_MS);
      const offset = Math.floor((w.minuteStartMs - day * DAY_MS) / MINUTE_MS);
      const key = availabilityKey(this.prefix, w.portal, day);
      const byte = 1 + Math.round(Math.min(1, Math.max(0, w.goodShare)) * 100);
      pipe.setrange(key, offset, String.fromCharCode(byte)).pexpire(key, KEEP_DAYS * DAY_MS);
    }
    const failed = ((await pipe.exec()) ?? []).find(([err]) => err);
    if (failed) throw failed[0];
  }

  async read(portal: string, now: number): Promise<Availability> {
    const today = Math.floor(now / DAY_MS);
    const days = Array.from({ length: KEEP_DAYS }, (_, i) => today - i);
    const raws = await this.redis.mgetBuffer(...days.map((d) => availabilityKey(this.prefix, portal, d)));
    const nowMinute = Math.floor(now / MINUTE_MS);
    const sums = Object.fromEntries(Object.keys(AVAILABILITY_WINDOWS).map((w) => [w, { good: 0, n: 0 }])) as Record<AvailabilityWindow, { good: number; n: number }>;
    raws.forEach((buf, i) => {
      if (!buf) return;
      const dayStartMinute = days[i] * 1440;
      for (let m = 0; m < buf.length; m++) {
        const v = buf[m];
        if (v === 0) continue;
        const age = nowMinute - (dayStartMinute + m);
        if (age < 0) continue;
        for (const [w, d] of Object.entries(AVAILABILITY_WINDOWS) as [AvailabilityWindow, number][]) {
          if (age < d * 1440) {
            sums[w].good += (v - 1) / 100;
            sums[w].n += 1;
          }
        }
      }
    });
    const out = {} as Availability;
    for (const w of Object.keys(AVAILABILITY_WINDOWS) as AvailabilityWindow[]) {
      // Three significant decimals: 99.987 % and 99.9 % are different promises.
      out[w] = sums[w].n ? Math.floor((sums[w].good / sums[w].n) * 100_000) / 1000 : null;
    }
    return out;
  }
}

/**
 * Accumulates samples per portal for the current minute and writes them out: when the minute changes and, within a
 * minute, at most every `flushEveryMs`, so the page is never more than that behind.
 */
export class AvailabilityRecorder {
  private readonly current = new Map<string, { minute: number; good: number; total: number; flushedAt: number }>();

  constructor(
    private readonly store: AvailabilityStore,
    private readonly flushEveryMs = 10_000,
  ) {}

  /** `up`: the active site is up by quorum; `down`: down by quorum; anything else is not a sample. */
  sample(portal: string, status: string | undefined, now: number): void {
    if (status !== 'up' && status !== 'down') return;
    const minute = Math.floor(now / MINUTE_MS) * MINUTE_MS;
    let c = this.current.get(portal);
    if (!c || c.minute !== minute) {
      if (c) this.pending.push({ portal, minute: c.minute, share: c.good / c.total });
      c = { minute, good: 0, total: 0, flushedAt: 0 };
      this.current.set(portal, c);
    }
    c.total++;
    if (status === 'up') c.good++;
  }

  private pending: { portal: string; minute: number; share: number }[] = [];

  /** Writes finished minutes, and the current one when it was last written more than flushEveryMs ago. */
  async flush(now: number): Promise<void> {
    const writes = this.pending;
    this.pending = [];
    for (const [portal, c] of this.current) {
      if (c.total && now - c.flushedAt >= this.flushEveryMs) {
        c.flushedAt = now;
        writes.push({ portal, minute: c.minute, share: c.good / c.total });
      }
    }
    await this.store.writeMinutes(writes.map((w) => ({ portal: w.portal, minuteStartMs: w.minute, goodShare: w.share })));
  }
}
