import Redis from 'ioredis';
import { createZone, pdnsRequest, queryA, sharedPowerDns } from './powerdns-server';
import { pingRedis, startRedis, type RedisServer } from './redis-server';

// Fails fast instead of retrying, so "server is down" shows up as an error rather than a hung command.
function connect(url: string): Redis {
  return new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
}

async function withClient<T>(url: string, fn: (client: Redis) => Promise<T>): Promise<T> {
  const client = connect(url);
  try {
    await client.connect();
    return await fn(client);
  } finally {
    client.disconnect();
  }
}

describe('private redis-server (startRedis)', () => {
  let redis: RedisServer | undefined;

  afterEach(async () => {
    await redis?.stop();
    redis = undefined;
  });

  it('keeps AOF data across restart and kill -9', async () => {
    redis = await startRedis({ appendonly: true });
    const server = redis;
    expect(server.url).toBe(`redis://127.0.0.1:${server.port}`);

    await withClient(server.url, (c) => c.set('smoke:before-restart', 'one'));
    const firstPid = server.pid;
    await server.restart();
    expect(server.pid).not.toBe(firstPid);
    expect(await withClient(server.url, (c) => c.get('smoke:before-restart'))).toBe('one');

    await withClient(server.url, (c) => c.set('smoke:before-kill9', 'two'));
    await server.kill9();
    expect(await pingRedis(server.port)).toBe(false);
    await server.restart();
    expect(await withClient(server.url, (c) => c.mget('smoke:before-restart', 'smoke:before-kill9'))).toEqual([
      'one',
      'two',
    ]);
  });

  it('loses data on restart without appendonly, and stop() frees the port', async () => {
    redis = await startRedis({ appendonly: false });
    const server = redis;
    await withClient(server.url, (c) => c.set('smoke:volatile', 'x'));
    await server.restart();
    expect(await withClient(server.url, (c) => c.get('smoke:volatile'))).toBeNull();
    await server.stop();
    expect(await pingRedis(server.port)).toBe(false);
  });
});

describe('shared PowerDNS (global setup)', () => {
  const pdns = sharedPowerDns();
  // Distinct per run and per worker, because all test files share this server.
  const zone = `smoke-${process.pid}-${Date.now()}.example.`;
  const www = `www.${zone}`;

  it('serves an A record replaced through the API on the next DNS query', async () => {
    await createZone(pdns, zone, [{ name: www, type: 'A', ttl: 30, records: ['192.0.2.10'] }]);
    expect(await queryA(pdns.dnsHost, pdns.dnsPort, www)).toEqual(['192.0.2.10']);

    await pdnsRequest(pdns, 'PATCH', `/zones/${zone}`, {
      rrsets: [
        {
          name: www,
          type: 'A',
          ttl: 30,
          changetype: 'REPLACE',
          records: [{ content: '198.51.100.20', disabled: false }],
        },
      ],
    });
    expect(await queryA(pdns.dnsHost, pdns.dnsPort, www)).toEqual(['198.51.100.20']);
    expect(await queryA(pdns.dnsHost, pdns.dnsPort, `missing.${zone}`)).toEqual([]);
    expect(await queryA(pdns.dnsHost, pdns.dnsPort, www, 'AAAA')).toEqual([]);
  });
});
