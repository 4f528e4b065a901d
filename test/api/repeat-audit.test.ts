import { randomBytes } from 'node:crypto';
import { AuditLog, type AuditEntry } from '@portal-failover/shared';
import { Redis } from 'ioredis';
import { RepeatAudit } from '../../services/api/src/repeat-audit';
import { sharedRedisUrl } from '../support/redis-server';

/** RepeatAudit on real Redis: repeats become counts, and distinct kinds beyond the tracked number fold together. */
let redis: Redis;
let log: AuditLog;
const key = `repeat${randomBytes(4).toString('hex')}:audit`;

beforeAll(() => {
  redis = new Redis(sharedRedisUrl());
  log = new AuditLog(redis, key, 90 * 86_400_000);
});
afterAll(async () => {
  await redis.del(key, `${key}:head`);
  await redis.quit();
});

const entries = async (): Promise<AuditEntry[]> => (await log.query({ limit: 1000 })).entries;

it('repeats within the window are one entry with the count; the chain stays intact', async () => {
  const errors: Error[] = [];
  const r = new RepeatAudit(log, 60_000, (e) => errors.push(e));
  for (let i = 0; i < 7; i++) r.note('k', { type: 'api.denied', actor: 'someone', reason: 'too low' });
  r.note('other', { type: 'api.denied', actor: 'else', reason: 'unknown' });
  await r.flush();
  const got = await entries();
  expect(got.map((e) => [e.actor, e.data?.count, e.data?.repeated])).toEqual([
    ['someone', 1, undefined],
    ['else', 1, undefined],
    ['someone', 6, true],
  ]);
  expect(errors).toEqual([]);
  expect((await log.verify()).ok).toBe(true);
});

it('more distinct kinds than it tracks: the rest are counted in one overflow entry, not appended', async () => {
  const before = (await entries()).length;
  const r = new RepeatAudit(log, 60_000, () => undefined);
  for (let i = 0; i < 1005; i++) r.note(`kind-${i}`, { type: 'alert.received', actor: 'flood', reason: `r${i}` });
  await r.flush();
  const all = await redis.xlen(key);
  expect(all - before).toBe(1001);
  const last = (await redis.xrevrange(key, '+', '-', 'COUNT', 1))[0][1];
  const overflow = JSON.parse(last[last.indexOf('e') + 1]) as AuditEntry;
  expect(overflow).toMatchObject({ type: 'alert.received', actor: 'api', data: { count: 5, repeated: true } });
  expect(overflow.reason).toMatch(/more than 1000 distinct kinds/);
});
