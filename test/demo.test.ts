import { runDemo } from '../cli/src/demo/demo';
import { sharedRedisUrl } from './support/redis-server';

jest.setTimeout(60_000);

it('npm run demo: the simulated provider cut moves the zone-file record to the standby and exits 0', async () => {
  const before = process.env.REDIS_URL;
  process.env.REDIS_URL = sharedRedisUrl();
  const lines: string[] = [];
  const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  });
  try {
    expect(await runDemo({ cutAfterMs: 500, timeoutMs: 30_000 })).toBe(0);
  } finally {
    write.mockRestore();
    if (before === undefined) delete process.env.REDIS_URL;
    else process.env.REDIS_URL = before;
  }
  const out = lines.join('');
  expect(out).toMatch(/www 30 IN A 192\.0\.2\.10/);
  expect(out).toMatch(/switching primary -> standby/);
  expect(out).toMatch(/zone file now: www\.portal\.example\. 30 IN A 198\.51\.100\.20/);
  expect(out).toMatch(/failover done/);
});
