import fs from 'node:fs';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { freePort, logTail } from '../test/support/free-port';
import type { RedisServer } from '../test/support/redis-server';
import { startStaticHttpTarget, type StaticHttpTarget } from '../test/support/static-http-target';
import { scaleRawConfig } from '../test/support/scale-fixture';
import { spawnNode, stopChild, treeRssMiB } from './bench-processes';

export interface FailoverAtScale {
  endpoints: number;
  /** failureThreshold × interval + 1 s: the first failed probe comes at most one interval after the cut. */
  boundS: number;
  /** Cut (the primary's target stopped) -> the zone file holds the standby's address; undefined: not within 2 × bound. */
  switchedS: number | undefined;
  rssMiB: number;
}

const STANDBY = '198.51.100.1';

/**
 * One `npm start` checking `endpoints` endpoints (every other check against the shared target), of which one
 * portal's primary is its own HAProxy: once the service has run for warmupS, that HAProxy is stopped (connections
 * refused) and the time until the portal's zone file names the standby is measured, read back from the file.
 */
export async function failoverAtScale(redis: RedisServer, shared: StaticHttpTarget, dir: string, endpoints: number, intervalMs: number, warmupS: number): Promise<FailoverAtScale> {
  const prefix = `benchfo${randomBytes(3).toString('hex')}`;
  const apiPort = await freePort();
  const raw = scaleRawConfig({ portals: endpoints / 2, intervalMs, targetUrl: shared.url, redisUrl: redis.url, prefix, apiListen: `127.0.0.1:${apiPort}` });
  const portals = raw.portals as Array<{ policy: { failureThreshold: number }; sites: Array<{ checks: Array<{ url: string }> }>; traffic: Array<{ path: string; zone: string }> }>;
  const cut = await startStaticHttpTarget();
  let cutStopped = false;
  const p0 = portals[0];
  p0.sites[0].checks[0].url = cut.url;
  const zoneFile = path.join(dir, `${prefix}-p0.zone`);
  p0.traffic[0].path = zoneFile;
  const zone = p0.traffic[0].zone;
  fs.writeFileSync(
    zoneFile,
    [`$ORIGIN ${zone}`, '$TTL 300', `@ IN SOA ns1.${zone} hostmaster.${zone} ( 1 7200 3600 1209600 300 )`, `  IN NS ns1.${zone}`, 'ns1 IN A 192.0.2.53', 'www 30 IN A 192.0.2.1', ''].join('\n'),
  );
  // A viewer token of the bench's own, to read the portal's phase through the API as an operator would.
  const token = randomBytes(24).toString('hex');
  (raw.api as Record<string, unknown>).tokens = [{ name: 'bench', role: 'viewer', sha256: createHash('sha256').update(token).digest('hex') }];
  const configFile = path.join(dir, `${prefix}.yaml`);
  fs.writeFileSync(configFile, JSON.stringify(raw));
  const boundS = p0.policy.failureThreshold * (intervalMs / 1000) + 1;
  const logFile = path.join(dir, `${prefix}-all-in-one.log`);
  const app = spawnNode('cli/dist/main.js', { FAILOVER_CONFIG: configFile, LOG_LEVEL: 'warn', REDIS_URL: redis.url }, logFile, ['start', '-c', configFile]);
  let rss = 0;
  const rssTimer = setInterval(() => (rss = Math.max(rss, treeRssMiB(app.pid))), 500);
  try {
    // Up once the API answers; then the portal must be seen healthy on the primary before the cut.
    const view = `http://127.0.0.1:${apiPort}/api/v1/portals/p0`;
    for (const t0 = Date.now(); ; ) {
      if (app.exitCode !== null) throw new Error(`npm start exited (${app.exitCode}):\n${logTail(logFile)}`);
      if (Date.now() - t0 > 120_000) throw new Error(`portal p0 not healthy within 120 s:\n${logTail(logFile)}`);
      const body = await fetch(view, { headers: { authorization: `Bearer ${token}` } })
        .then((r) => (r.ok ? (r.json() as Promise<{ phase?: string }>) : undefined))
        .catch(() => undefined);
      if (body?.phase === 'healthy') break;
      await delay(500);
    }
    await delay(warmupS * 1000);
    await cut.stop();
    cutStopped = true;
    const cutAt = Date.now();
    while (Date.now() - cutAt < 2 * boundS * 1000) {
      if (fs.readFileSync(zoneFile, 'utf8').includes(STANDBY)) return { endpoints, boundS, switchedS: (Date.now() - cutAt) / 1000, rssMiB: rss };
      await delay(50);
    }
    return { endpoints, boundS, switchedS: undefined, rssMiB: rss };
  } finally {
    clearInterval(rssTimer);
    await stopChild(app);
    if (!cutStopped) await cut.stop();
  }
}
