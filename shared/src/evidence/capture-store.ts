import type { Redis } from 'ioredis';
import type { SeenResponse } from '../core/observation';

/** What a checker keeps of the response that turned a check from up to down. */
export interface ResponseCapture extends SeenResponse {
  portal: string;
  site: string;
  check: string;
  vantage: string;
  at: number;
  /** The failed probe's own verdict (reason and detail), next to what was served. */
  probe: { reason?: string; detail?: string };
  url: string;
  /**
   * `probe`: the failing probe's own response (no second request: a portal whose answers depend on how often it is
   * asked is not disturbed); `request`: a second request, made when the probe got no HTTP answer to keep.
   */
  from?: 'probe' | 'request';
}

/**
 * Captures in Redis: one key per capture with the retention as its expiry, and a per-portal index by time,
 * trimmed by the same retention on every write, so nothing grows without bound.
 */
export class CaptureStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly retentionMs: number,
  ) {}

  private indexKey(portal: string): string {
    return `${this.prefix}:portal:${portal}:captures`;
  }

  async save(c: ResponseCapture): Promise<string> {
    const key = `${this.prefix}:capture:${c.portal}:${c.site}:${c.check}:${c.vantage}:${c.at}`;
    await this.redis
      .multi()
      .set(key, JSON.stringify(c), 'PX', this.retentionMs)
      .zadd(this.indexKey(c.portal), c.at, key)
      .zremrangebyscore(this.indexKey(c.portal), '-inf', c.at - this.retentionMs)
      .exec();
    return key;
  }

  /** Captures of a portal taken between `from` and `to` (epoch ms), oldest first. */
  async between(portal: string, from: number, to: number): Promise<ResponseCapture[]> {
    const keys = await this.redis.zrangebyscore(this.indexKey(portal), from, to);
    if (!keys.length) return [];
    return (await this.redis.mget(keys)).filter((r): r is string => r !== null).map((r) => JSON.parse(r) as ResponseCapture);
  }
}
