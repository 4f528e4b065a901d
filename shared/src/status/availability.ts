import type { Redis } from 'ioredis';
import { runScript } from '../store/lua-script';

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
/** Portals whose minute one WRITE_MINUTES call writes. */
const WRITE_CHUNK = 500;
/** KEYS: day strings; ARGV[1]: their time to live (ms); then per key its minute offset and the minute's byte. */
const WRITE_MINUTES = `
for i, key in ipairs(KEYS) do
  redis.call('SETRANGE', key, ARGV[2 * i], ARGV[2 * i + 1])
  redis.call('PEXPIRE', key, ARGV[1])
end
return #KEYS`;

export const AVAILABILITY_WINDOWS = { '24h': 1, '7d': 7, '30d': 30, '90d': 90 } as const;
export type AvailabilityWindow = keyof typeof AVAILABILITY_WINDOWS;
/** Percent of the minutes with data in which the active site was up, or null when no minute had data. */
export type Availability = Record<AvailabilityWindow, number | null>;

export function availabilityKey(prefix: string, portal: string, day: number): string {
  return `${prefix}:portal:${portal}:avail:${day}`;
}

/** One minute of one portal: its start and the share of its samples that were good (0..1). */
export interface MinuteWrite {
  portal: string;
  minuteStartMs: number;
  goodShare: number;
}

export class AvailabilityStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  /**
   * Stores minutes' shares of good samples (0..1), each in its portal's day string. Overwrites: the last write of a
   * minute wins. The leader writes every portal's current minute every 10 s; at 12,500 portals a MULTI per portal
   * was a sixth of the garbage its old generation collected, and one pipeline of 25,000 commands still a fifth, so
   * a script writes WRITE_CHUNK portals per call. A write that fails (a key of another type in the way) ends its
   * call: the portals before it in that call are written, the call's others are not, and the error is thrown.
   */
  async writeMinutes(writes: readonly MinuteWrite[]): Promise<void> {
    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < writes.length; i += WRITE_CHUNK) {
      const keys: string[] = [];
      const args: (string | number)[] = [KEEP_DAYS * DAY_MS];
      for (const w of writes.slice(i, i + WRITE_CHUNK)) {
        const day = Math.floor(w.minuteStartMs / DAY_MS);
        keys.push(availabilityKey(this.prefix, w.portal, day));
        args.push(Math.floor((w.minuteStartMs - day * DAY_MS) / MINUTE_MS), String.fromCharCode(1 + Math.round(Math.min(1, Math.max(0, w.goodShare)) * 100)));
      }
      calls.push(runScript(this.redis, WRITE_MINUTES, keys, args));
    }
    const failed = (await Promise.allSettled(calls)).find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
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
      // Three significant decimals: 99.987 % and 99.9 % are different promises. Rounded to 1e-9 before the floor:
      // a share of 0.999 is 99899.99999… in binary and would read 99.899 %.
      out[w] = sums[w].n ? Math.floor(Math.round((sums[w].good / sums[w].n) * 1e9) / 1e4) / 1000 : null;
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
      if (c) this.pending.push({ portal, minuteStartMs: c.minute, goodShare: c.good / c.total });
      c = { minute, good: 0, total: 0, flushedAt: 0 };
      this.current.set(portal, c);
    }
    c.total++;
    if (status === 'up') c.good++;
  }

  private pending: MinuteWrite[] = [];

  /** Writes finished minutes, and the current one when it was last written more than flushEveryMs ago. */
  async flush(now: number): Promise<void> {
    const writes = this.pending;
    this.pending = [];
    for (const [portal, c] of this.current) {
      if (c.total && now - c.flushedAt >= this.flushEveryMs) {
        c.flushedAt = now;
        writes.push({ portal, minuteStartMs: c.minute, goodShare: c.good / c.total });
      }
    }
    await this.store.writeMinutes(writes);
  }
}
