import type { Redis } from 'ioredis';

/** Even with no change counted, intents, freezes and acknowledgements are read again this often: an API older than the counter, a hand edit. */
export const FULL_READ_EVERY_MS = 5_000;

/**
 * Whether the API's records (intents, freezes, acknowledgements, announced risk windows) need reading again. The API
 * counts every write of them in one key (keys.controlChanged, in the same script or MULTI as the write, after it),
 * so the leader reads one key per tick instead of every portal's records: 25,000 keys every 500 ms at 12,500
 * portals, most of the leader's Redis traffic and much of its garbage. A counter Redis lost (restarted empty,
 * promoted) reads as changed.
 */
export class ControlChanges {
  /** The counter at the last read that was due; undefined before the first and after a failed read. */
  private seen: string | null | undefined;
  private fullAt = 0;

  constructor(
    private readonly redis: Pick<Redis, 'get'>,
    private readonly key: string,
    private readonly now: () => number,
  ) {}

  /**
   * Why the records must be read now (the caller then reads them, and calls missed() if that fails): `changed` when the counter moved (or Redis lost it, or it could not be read,
   * or nothing was read yet), `periodic` when only FULL_READ_EVERY_MS passed; undefined when the last read stands.
   * Announced risk windows are written only by an API that counts its writes, so they need reading on `changed`
   * alone (at 12,500 portals that read is one HGETALL per portal).
   */
  async check(): Promise<'changed' | 'periodic' | undefined> {
    let counter: string | null;
    try {
      counter = await this.redis.get(this.key);
    } catch {
      // Cannot tell: read, and let that read report what is wrong with Redis.
      this.seen = undefined;
      return 'changed';
    }
    const now = this.now();
    const changed = this.seen === undefined || counter !== this.seen;
    if (!changed && now < this.fullAt) return undefined;
    this.seen = counter;
    this.fullAt = now + FULL_READ_EVERY_MS;
    return changed ? 'changed' : 'periodic';
  }

  /** The read after check() asked for failed: read again next time. */
  missed(): void {
    this.seen = undefined;
  }
}
