import { startPowerDns, type PowerDnsServer } from './support/powerdns-server';
import { startRedis, type RedisServer } from './support/redis-server';

export interface TestServers {
  redis: RedisServer;
  pdns: PowerDnsServer;
}

declare global {
  // globalSetup and globalTeardown run in the same (parent) process, so this is how teardown finds the handles.
  var __PORTAL_FAILOVER_TEST_SERVERS__: TestServers | undefined;
}

/**
 * One shared Redis and one shared PowerDNS for the whole run, handed to the test workers through process.env
 * (workers are forked after this and inherit it). Tests share them, so each test must use its own zone names and
 * key prefixes. Tests that restart or kill a server start a private one with startRedis()/startPowerDns().
 */
export default async function globalSetup(): Promise<void> {
  // Persistence is off: nothing on the shared instance has to outlive the run.
  const redis = await startRedis({ appendonly: false });
  let pdns: PowerDnsServer;
  try {
    pdns = await startPowerDns({ luaHealthChecksInterval: 1 });
  } catch (err) {
    await redis.stop();
    throw err;
  }
  globalThis.__PORTAL_FAILOVER_TEST_SERVERS__ = { redis, pdns };

  process.env.TEST_REDIS_URL = redis.url;
  process.env.TEST_PDNS_API_URL = pdns.apiUrl;
  process.env.TEST_PDNS_API_KEY = pdns.apiKey;
  process.env.TEST_PDNS_DNS_PORT = String(pdns.dnsPort);
}
