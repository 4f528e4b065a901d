import type { Redis } from 'ioredis';
import { signResult, vantageKey, type CheckResult, type Config, type Logger, type SignedCheckResult } from '@portal-failover/shared';

const CANARY_EVERY_MS = 5_000;
const CANARY_TIMEOUT_MS = 3_000;

/**
 * Who this checker is to the controller: one declared vantage (or the implied one), its signing key and whether
 * it can currently see out (its canary). Only this vantage's key is resolved here; a checker holds no other secret.
 */
export class VantageIdentity {
  private blind = false;
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    readonly vantage: string,
    private readonly key: string,
    private readonly canary: string | undefined,
    private readonly log: Logger,
  ) {}

  static async start(config: Config, vantage: string, redis: Pick<Redis, 'set' | 'get'>, log: Logger): Promise<VantageIdentity> {
    const declared = config.vantages.find((v) => v.name === vantage);
    if (!declared) {
      throw new Error(`vantage "${vantage}" is not declared in vantages (${config.vantages.map((v) => v.name).join(', ')}); the controller would refuse every result`);
    }
    const id = new VantageIdentity(vantage, await vantageKey(declared, redis, config.redis.prefix), declared.canary, log);
    if (id.canary) {
      await id.probeCanary();
      id.timer = setInterval(() => void id.probeCanary(), CANARY_EVERY_MS);
      id.timer.unref();
    }
    return id;
  }

  /** Signs a result as this vantage, marking it blind while the canary is unreachable. */
  sign(r: CheckResult): SignedCheckResult {
    return signResult(this.blind ? { ...r, blind: true } : r, this.key);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async probeCanary(): Promise<void> {
    let ok = false;
    try {
      const res = await fetch(this.canary!, { signal: AbortSignal.timeout(CANARY_TIMEOUT_MS), redirect: 'manual' });
      await res.arrayBuffer().catch(() => undefined);
      ok = res.status < 500;
    } catch {
      ok = false;
    }
    if (ok === this.blind) {
      this.log.warn(ok ? `canary reachable again: vantage ${this.vantage} is a witness again` : `canary unreachable: vantage ${this.vantage} is blind, its results do not count`);
    }
    this.blind = !ok;
  }
}
