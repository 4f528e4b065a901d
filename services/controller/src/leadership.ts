import type { Logger, RateLimitedLog } from '@portal-failover/shared';
import type { Lease, LeaseHold } from './lease';

export interface LeadershipHooks {
  /** Before the hold counts as leadership: load what a leader needs. A throw aborts the takeover. */
  prepare(hold: LeaseHold): Promise<void>;
  /** The hold is ours and counts: start acting. A throw steps down and releases the lease. */
  elected(hold: LeaseHold): Promise<void>;
  /** Leadership is gone (lease lost, refused write, shutdown): stop acting and withdraw the leader's view. */
  deposed(): Promise<void>;
}

/**
 * Competes for the leader lease every `renewEvery`: takes it, renews it, or notices it is gone. Transitions run one
 * after the other on one chain, so a slow takeover is never overlapped by the next tick's step-down.
 */
export class Leadership {
  private hold: LeaseHold | undefined;
  private timer: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private transition: Promise<void> = Promise.resolve();
  private stopped = false;
  private leaderSince = 0;

  constructor(
    readonly lease: Lease,
    private readonly renewEvery: number,
    private readonly log: Logger,
    private readonly warn: RateLimitedLog,
    private readonly now: () => number,
    private readonly hooks: LeadershipHooks,
  ) {}

  /** The hold while leading; undefined otherwise. Work that acts captures it and passes it on. */
  get current(): LeaseHold | undefined {
    return this.hold;
  }

  /** When this process last took the lease (takeover-view.ts). */
  get since(): number {
    return this.leaderSince;
  }

  get isLeader(): boolean {
    return this.hold !== undefined && this.lease.current !== undefined;
  }

  async start(): Promise<void> {
    await this.tick();
    this.timer = setInterval(() => void this.tick(), this.renewEvery);
  }

  /** Stops competing; the caller then releases and steps down once its work has settled. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.watchdog);
    await this.transition;
  }

  release(): Promise<void> {
    return this.lease.release();
  }

  /** `keepNewHold`: the lease was just re-acquired with a new token; step down from the old one only. */
  async stepDown(why: string, keepNewHold = false): Promise<void> {
    if (!this.hold) return;
    this.log.warn(`stepping down as leader: ${why}`);
    this.hold = undefined;
    if (!keepNewHold) this.lease.drop();
    await this.hooks.deposed();
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    this.transition = this.transition.then(async () => {
      if (this.stopped) return;
      let hold: LeaseHold | undefined;
      try {
        hold = await this.lease.tryAcquire();
      } catch (err) {
        this.warn.warn('lease', `cannot reach Redis to renew the leader lease: ${(err as Error).message}`);
        hold = this.lease.current;
      }
      this.armWatchdog();
      try {
        if (hold && !this.hold) await this.takeOver(hold);
        else if (!hold && this.hold) await this.stepDown('lease not renewed');
        else if (hold && this.hold && hold.token !== this.hold.token) {
          // Redis lost the lease (restarted empty) and this process took it again with a new token. Dropping the
          // new hold here would make every later tick acquire yet another token.
          await this.stepDown('lease token changed', true);
          await this.takeOver(hold);
        }
      } catch (err) {
        // Taking over half-way (Redis went away while loading state) is worse than not leading: step down and
        // let the next tick try again from the start.
        this.warn.warn('takeover', `leadership change failed: ${(err as Error).message}`);
        await this.stepDown('takeover failed').catch(() => undefined);
        await this.lease.release().catch(() => undefined);
      }
    });
    await this.transition;
  }

  private async takeOver(hold: LeaseHold): Promise<void> {
    // Everything a leader reads is loaded before the hold counts (it is what makes evaluation and saving act):
    // otherwise a timer tick could save the blank in-memory state over the saved one while it is being read.
    await this.hooks.prepare(hold);
    this.hold = hold;
    this.leaderSince = this.now();
    this.log.info(`became leader with fencing token ${hold.token}`, { owner: this.lease.owner });
    await this.hooks.elected(hold);
  }

  /**
   * Steps down when the hold's local validity ends without a renewal, independent of the lease loop: a renewal
   * stuck on a paused Redis must not keep this process acting (and claiming failover_controller_leader 1) until
   * after the lease could have expired and another controller taken it.
   */
  private armWatchdog(): void {
    clearTimeout(this.watchdog);
    const until = this.lease.validUntilMs;
    if (!until) return;
    this.watchdog = setTimeout(() => {
      if (this.hold && !this.lease.current) void this.stepDown('the lease could not be renewed before its validity ended');
    }, Math.max(0, until - this.now()) + 1);
    this.watchdog.unref();
  }
}
