import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { ControlStore, keys, RiskWindowStore } from '@portal-failover/shared';
import { sharedRedisUrl } from '../../../test/support/redis-server';
import { ControlChanges, FULL_READ_EVERY_MS } from './control-changes';

let redis: Redis;
beforeAll(() => (redis = new Redis(sharedRedisUrl())));
afterAll(() => redis.disconnect());

describe('ControlChanges on a real Redis', () => {
  it('asks for a read when an API write was counted, when Redis lost the counter, after a failed read and every 5 s', async () => {
    const k = keys(`cc-${randomBytes(4).toString('hex')}`);
    let now = 1_000_000;
    const changes = new ControlChanges(redis, k.controlChanged, () => now);
    const control = new ControlStore(redis, k);
    const windows = new RiskWindowStore(redis, k);
    expect(await changes.check()).toBe('changed');
    expect(await changes.check()).toBeUndefined();
    // Every kind of write the leader reads is counted.
    const writes: [string, () => Promise<unknown>][] = [
      ['freeze', () => control.freeze('p', { actor: 'anna', at: now, reason: 'maintenance' })],
      ['unfreeze', () => control.unfreeze('p')],
      ['acknowledge', () => control.acknowledge('p', { at: now, actor: 'anna', reason: 'seen' })],
      ['switchover request', () => control.requestOperation({ id: 'op-1', portal: 'p', from: 'primary', to: 'standby', trigger: 'manual', reason: 'drill', actor: 'anna', requestedAt: now })],
      ['risk window added', () => windows.add('p', { name: 'w', start: '2030-01-01T00:00:00+07:00', startsAt: Date.parse('2030-01-01T00:00:00+07:00'), durationMs: 3_600_000, leadTimeMs: 600_000, lowerTtlTo: 30, source: 'api' })],
      ['risk window removed', () => windows.remove('p', 'w')],
    ];
    for (const [what, write] of writes) {
      await write();
      expect([what, await changes.check()]).toEqual([what, 'changed']);
      expect([what, await changes.check()]).toEqual([what, undefined]);
    }
    // Redis restarted empty: the counter is gone, which is a change.
    await redis.del(k.controlChanged);
    expect(await changes.check()).toBe('changed');
    expect(await changes.check()).toBeUndefined();
    // The read after check() failed: the next tick reads again.
    changes.missed();
    expect(await changes.check()).toBe('changed');
    // Nothing counted (an older API, a hand edit): read anyway every FULL_READ_EVERY_MS.
    now += FULL_READ_EVERY_MS - 1;
    expect(await changes.check()).toBeUndefined();
    now += 1;
    expect(await changes.check()).toBe('periodic');
    // Why: the timer alone is `periodic` (announced risk windows are not read again for it), a counted write `changed`.
    now += FULL_READ_EVERY_MS;
    expect(await changes.check()).toBe('periodic');
    await control.freeze('p', { actor: 'anna', at: now, reason: 'again' });
    expect(await changes.check()).toBe('changed');
    expect(await changes.check()).toBeUndefined();
    changes.missed();
    expect(await changes.check()).toBe('changed');
  });
});
