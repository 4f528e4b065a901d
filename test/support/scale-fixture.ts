import { parseConfig, type Config } from '@portal-failover/shared';

export interface ScaleConfigOptions {
  /** Portals of two sites with one HTTP check each: 2 × portals checks. */
  portals: number;
  intervalMs: number;
  timeoutMs?: number;
  /** Every check probes this URL (a local static target); `?c=<n>` keeps the URLs apart in access logs. */
  targetUrl: string;
  redisUrl: string;
  prefix: string;
  vantage?: string;
  concurrency?: number;
  shardSize?: number;
  perCheckHistograms?: boolean | 'auto';
  apiListen?: string;
}

/**
 * The config document of a large deployment where every check hits one local target, as a user would write it.
 * The traffic steps point at a zone file that is never written: scale tests and benchmarks measure checking, and
 * a switch (none happens while the target answers 200) would go to a file in the OS temp dir.
 */
export function scaleRawConfig(o: ScaleConfigOptions): Record<string, unknown> {
  const interval = `${o.intervalMs}ms`;
  const timeout = `${o.timeoutMs ?? Math.min(2000, Math.floor(o.intervalMs / 2))}ms`;
  let n = 0;
  const check = () => ({ type: 'http', url: `${o.targetUrl}?c=${n++}`, interval, timeout, expect: { status: [200] } });
  return {
    redis: { url: o.redisUrl, prefix: o.prefix },
    api: { listen: o.apiListen ?? '127.0.0.1:0' },
    checker: { vantage: o.vantage ?? 'scale', concurrency: o.concurrency ?? 256, ...(o.shardSize ? { shardSize: o.shardSize } : {}) },
    ...(o.perCheckHistograms !== undefined ? { metrics: { perCheckHistograms: o.perCheckHistograms } } : {}),
    portals: Array.from({ length: o.portals }, (_, i) => ({
      id: `p${i}`,
      name: `Portal ${i}`,
      policy: { failureThreshold: 3, recoveryThreshold: 2, quorum: 1, cooldown: '10m' },
      sites: [
        { name: 'primary', provider: 'hosting-a', routing: { address: '192.0.2.1' }, checks: [check()] },
        { name: 'standby', provider: 'hosting-b', routing: { address: '198.51.100.1' }, checks: [check()] },
      ],
      traffic: [{ kind: 'zonefile', path: `/tmp/pf-scale-${o.prefix}/p${i}.zone`, zone: `p${i}.scale.test.`, record: `www.p${i}.scale.test.`, type: 'A' }],
    })),
  };
}

export function scaleConfig(o: ScaleConfigOptions): Config {
  return parseConfig(scaleRawConfig(o), 'scale', {});
}
