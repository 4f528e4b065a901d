import type { TestServers } from './global-setup';

export default async function globalTeardown(): Promise<void> {
  const servers: TestServers | undefined = globalThis.__PORTAL_FAILOVER_TEST_SERVERS__;
  globalThis.__PORTAL_FAILOVER_TEST_SERVERS__ = undefined;
  if (servers === undefined) return;
  // allSettled: a failure to stop one server must not leave the other running.
  const results = await Promise.allSettled([servers.redis.stop(), servers.pdns.stop()]);
  const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failures.length > 0) {
    throw new Error(`stopping the test servers failed: ${failures.map((f) => String(f.reason)).join('; ')}`);
  }
}
