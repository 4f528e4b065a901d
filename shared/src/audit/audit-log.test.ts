import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { AuditLog } from './audit-log';
import { sharedRedisUrl } from '../../../test/support/redis-server';

let redis: Redis;
beforeAll(() => (redis = new Redis(sharedRedisUrl())));
afterAll(() => redis.disconnect());

const key = () => `audit-test-${randomBytes(4).toString('hex')}`;

describe('AuditLog on a real Redis stream', () => {
  it('bounds every entry: a long reason is cut and marked, large data is replaced by its marked beginning, secrets are dropped first', async () => {
    const log = new AuditLog(redis, key(), 86_400_000);
    const password = `pw-${randomBytes(8).toString('hex')}`;
    await log.append({ type: 'alert.received', actor: 'alertmanager(am)', reason: 'r'.repeat(5000), data: { password, labels: { big: 'x'.repeat(50_000) } } });
    const [e] = (await log.query({})).entries;
    expect(e.reason).toBe(`${'r'.repeat(1000)}… [truncated 4000 characters]`);
    expect(e.data).toMatchObject({ truncated: true, originalBytes: expect.any(Number) });
    expect(String(e.data?.head)).toMatch(/^\{"password":"\[redacted\]","labels":\{"big":"x+$/);
    expect(Buffer.byteLength(JSON.stringify(e))).toBeLessThan(8192);
    expect(JSON.stringify(e)).not.toContain(password);
    expect((await log.verify()).ok).toBe(true);
  });

  it('appends in order, filters by portal and type, and pages with a cursor', async () => {
    const log = new AuditLog(redis, key(), 86_400_000);
    for (let i = 0; i < 7; i++) {
      await log.append({ type: i % 2 ? 'freeze' : 'operation.started', portal: i < 5 ? 'a' : 'b', actor: `u${i}`, reason: `r${i}` });
    }
    const all = await log.query({});
    expect(all.entries.map((e) => e.actor)).toEqual(['u0', 'u1', 'u2', 'u3', 'u4', 'u5', 'u6']);
    expect((await log.query({ portal: 'b' })).entries.map((e) => e.actor)).toEqual(['u5', 'u6']);
    expect((await log.query({ type: 'operation' })).entries.map((e) => e.actor)).toEqual(['u0', 'u2', 'u4', 'u6']);
    const first = await log.query({ portal: 'a', limit: 2 });
    expect(first.entries.map((e) => e.actor)).toEqual(['u0', 'u1']);
    const second = await log.query({ portal: 'a', limit: 2, after: first.next });
    expect(second.entries.map((e) => e.actor)).toEqual(['u2', 'u3']);
    const third = await log.query({ portal: 'a', limit: 2, after: second.next });
    expect(third.entries.map((e) => e.actor)).toEqual(['u4']);
    expect(third.next).toBeUndefined();
  });

  it('filters by time range', async () => {
    // An application clock far ahead of Redis's must not make the trim drop what was just written.
    const now = Date.now() + 365 * 86_400_000;
    const log = new AuditLog(redis, key(), 86_400_000, () => now);
    await log.append({ type: 'ack', actor: 'early', portal: 'a' });
    expect((await log.query({})).entries[0]).toMatchObject({ actor: 'early', at: new Date(now).toISOString() });
    await new Promise((r) => setTimeout(r, 5));
    const since = Date.now();
    await new Promise((r) => setTimeout(r, 5));
    await log.append({ type: 'ack', actor: 'late', portal: 'a' });
    expect((await log.query({ since })).entries.map((e) => e.actor)).toEqual(['late']);
    expect((await log.query({ until: since })).entries.map((e) => e.actor)).toEqual(['early']);
  });

  it('never keeps anything keyed like a credential', async () => {
    const log = new AuditLog(redis, key(), 86_400_000);
    // Secrets that cannot occur by chance in a hex hash or an id: a short one like "abc" once matched the entry's hash.
    await log.append({ type: 'operation.finished', actor: 'c', data: { steps: [{ request: { headers: { Authorization: 'Bearer SECRET-BEARER' }, apiKey: 'SECRET-KEY' } }], token: 'SECRET-TOKEN' } });
    const raw = JSON.stringify((await log.query({})).entries);
    expect(raw).not.toMatch(/SECRET-/);
    expect(raw.match(/\[redacted\]/g)).toHaveLength(3);
  });

  it('trims by age only: entries younger than the retention survive any number of newer ones', async () => {
    const k = key();
    const log = new AuditLog(redis, k, 60_000);
    for (let i = 0; i < 300; i++) await log.append({ type: 'ack', actor: `a${i}` });
    expect(await redis.xlen(k)).toBe(300);
  });
});
