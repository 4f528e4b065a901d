import { prefixedRedis } from '../../../test/support/prefixed-redis';
import { availabilityKey, AvailabilityRecorder, AvailabilityStore, DAY_MS } from './availability';

/** Availability minutes written by the leader's recorder to the run's real Redis and read back as the status page reads them. */

const { prefix, redis: db } = prefixedRedis('avail');

describe('availability', () => {
  it("writes every portal's minutes in one flush and reads each portal's shares back, kept for 91 days", async () => {
    const store = new AvailabilityStore(db(), prefix);
    const recorder = new AvailabilityRecorder(store, 10_000);
    const t0 = Math.floor(Date.now() / DAY_MS) * DAY_MS + 3_600_000; // 01:00 UTC today
    // Minute 1: p-up up 4 of 4 samples, p-half 2 of 4, p-none never sampled (unknown is not a sample).
    for (let s = 0; s < 4; s++) {
      recorder.sample('p-up', 'up', t0 + s * 1000);
      recorder.sample('p-half', s % 2 ? 'up' : 'down', t0 + s * 1000);
      recorder.sample('p-none', 'unknown', t0 + s * 1000);
    }
    // Minute 2 starts: minute 1 is finished and written with the current ones.
    recorder.sample('p-up', 'down', t0 + 60_000);
    recorder.sample('p-half', 'up', t0 + 60_000);
    await recorder.flush(t0 + 60_000);
    const now = t0 + 120_000;
    expect((await store.read('p-up', now))['24h']).toBe(50); // 100 % then 0 %
    expect((await store.read('p-half', now))['24h']).toBe(75); // 50 % then 100 %
    expect((await store.read('p-none', now))['24h']).toBeNull();
    const key = availabilityKey(prefix, 'p-up', Math.floor(t0 / DAY_MS));
    const ttl = await db().pttl(key);
    expect(ttl).toBeGreaterThan(90 * DAY_MS);
    expect(ttl).toBeLessThanOrEqual(91 * DAY_MS);
    // A later write of the same minute overwrites it.
    await store.writeMinutes([{ portal: 'p-up', minuteStartMs: t0 + 60_000, goodShare: 1 }]);
    expect((await store.read('p-up', now))['24h']).toBe(100);
  });

  it('reports a failed write to the leader, which logs it; the portals before it in its call are written', async () => {
    const store = new AvailabilityStore(db(), prefix);
    // A key of another type in the way makes SETRANGE fail.
    const t0 = Math.floor(Date.now() / DAY_MS) * DAY_MS;
    await db().hset(availabilityKey(prefix, 'p-bad', Math.floor(t0 / DAY_MS)), 'x', '1');
    await expect(store.writeMinutes([{ portal: 'p-ok', minuteStartMs: t0, goodShare: 1 }, { portal: 'p-bad', minuteStartMs: t0, goodShare: 1 }])).rejects.toThrow(/WRONGTYPE/);
    expect((await store.read('p-ok', t0 + 60_000))['24h']).toBe(100);
  });

  it('writes the minutes of more portals than one script call takes, each its own', async () => {
    const store = new AvailabilityStore(db(), prefix);
    const t0 = Math.floor(Date.now() / DAY_MS) * DAY_MS + 7_200_000;
    const portals = Array.from({ length: 1_201 }, (_, i) => `many${i}`);
    await store.writeMinutes(portals.map((portal, i) => ({ portal, minuteStartMs: t0, goodShare: (i % 101) / 100 })));
    const read = await Promise.all(portals.map((p) => store.read(p, t0 + 60_000)));
    // Exactly: a share such as 0.29 reads 29, not the 28.999 its binary value would floor to.
    expect(read.map((a) => a['24h'])).toEqual(portals.map((_, i) => i % 101));
  });
});
