import { prefixedRedis } from '../../../test/support/prefixed-redis';
import { createMetrics } from '../runtime/metrics';
import { reportInvalidRecords } from '../runtime/invalid-records';
import { keys } from '../runtime/keys';
import { ControlStore } from './control';
import type { InvalidRecord } from './records';
import { StateStore } from './state-store';

/** Stored records read back from the run's real Redis: parsed, a bad one reported and read as absent. */

const { prefix, redis: db } = prefixedRedis('rec');
const k = keys(prefix);

const state = { portal: 'p', activeSite: 'standby', health: {}, phase: 'failed_over', lastReason: 'switched' };

function stores() {
  const reported: InvalidRecord[] = [];
  const report = (r: InvalidRecord) => void reported.push(r);
  return { reported, store: new StateStore(db(), k, report), control: new ControlStore(db(), k, report) };
}

describe('stored records, parsed when read back', () => {
  it('a state saved before the rename is read with its cooldown start under the new name', async () => {
    const { store, reported } = stores();
    await db().set(k.portalState('p'), JSON.stringify({ ...state, lastAutoSwitchAt: 1_700_000_000_000 }));
    expect(await store.loadState('p')).toEqual({ ...state, cooldownStartedAt: 1_700_000_000_000 });
    expect(reported).toEqual([]);
  });

  it.each([
    ['state', 'not json', () => k.portalState('q'), (s: ReturnType<typeof stores>) => s.store.loadState('q'), /^not JSON \(8 bytes\)$/],
    ['state', JSON.stringify({ ...state, phase: 'sideways' }), () => k.portalState('q'), (s: ReturnType<typeof stores>) => s.store.loadState('q'), /^phase: /],
    ['operation', JSON.stringify({ id: 'op-1', portal: 'q' }), () => k.operation('op-1'), (s: ReturnType<typeof stores>) => s.store.loadOperation('op-1'), /^from: /],
    ['freeze', JSON.stringify({ actor: 'anna', at: 1 }), () => k.portalFreeze('q'), async (s: ReturnType<typeof stores>) => (await s.control.read(['q'])).get('q')?.freeze, /^reason: /],
    ['ack', '[]', () => k.portalAck('q'), async (s: ReturnType<typeof stores>) => (await s.control.read(['q'])).get('q')?.ack, /^\(record\): /],
    ['intent', JSON.stringify({ id: 'x', portal: 'q', from: 'a', trigger: 'auto', reason: 'r', actor: 'a', requestedAt: 1 }), () => k.portalIntent('q'), async (s: ReturnType<typeof stores>) => (await s.control.read(['q'])).get('q')?.intent, /^trigger: /],
  ])('a bad %s record (%s) is reported and read as absent', async (record, raw, key, read, error) => {
    const s = stores();
    await db().set(key(), raw);
    try {
      expect(await read(s)).toBeUndefined();
      expect(s.reported).toEqual([{ record, key: key(), error: expect.stringMatching(error) }]);
    } finally {
      await db().del(key());
    }
  });

  it('a bad operation is left out of the recent list, the good ones are kept', async () => {
    const { store, reported } = stores();
    const good = { id: 'ok-1', portal: 'r', from: 'a', to: 'b', trigger: 'auto', reason: 'r', actor: 'c', status: 'succeeded', fence: 1, decidedAt: 2, resumedCount: 0, steps: [] };
    await db().zadd(k.portalOperations('r'), 2, 'ok-1', 1, 'bad-1');
    await db().set(k.operation('ok-1'), JSON.stringify(good));
    await db().set(k.operation('bad-1'), '{"id":');
    expect(await store.recentOperations('r')).toEqual([good]);
    expect(reported.map((r) => [r.record, r.key])).toEqual([['operation', k.operation('bad-1')]]);
  });

  it('a switchover request is stored as an intent and shown as a pending operation until it is taken', async () => {
    const { store, control } = stores();
    const r = await control.requestOperation({ id: 'req-1', portal: 's', from: 'primary', trigger: 'alert', reason: 'alert PrimaryDown', actor: 'am', expectFrom: 'primary', requestedAt: 5 });
    expect(r).toMatchObject({ ok: true, operation: { id: 'req-1', status: 'pending', to: '', fence: 0, steps: [], force: false, decidedAt: 5 } });
    const intent = (await control.read(['s'])).get('s')?.intent;
    expect(intent?.request).toEqual({ id: 'req-1', portal: 's', from: 'primary', to: undefined, trigger: 'alert', reason: 'alert PrimaryDown', actor: 'am', force: false, expectFrom: 'primary', requestedAt: 5 });
    expect(JSON.parse(intent!.raw)).not.toHaveProperty('steps');
    expect(await store.loadOperation('req-1')).toMatchObject({ status: 'pending' });
  });

  it("reads every portal's control records of a large install, each portal's own, across MGET chunks", async () => {
    const { control } = stores();
    const portals = Array.from({ length: 600 }, (_, i) => `big${i}`);
    // Records only on some portals, on both sides of each chunk boundary (256 portals per MGET).
    const frozen = ['big0', 'big255', 'big256', 'big511', 'big512', 'big599'];
    for (const p of frozen) await control.freeze(p, { actor: 'anna', at: 1, reason: `maintenance of ${p}` });
    await control.acknowledge('big257', { actor: 'bo', at: 2, reason: 'seen' });
    const read = await control.read(portals);
    expect(read.size).toBe(600);
    for (const p of portals) {
      const r = read.get(p)!;
      expect([p, r.freeze?.reason]).toEqual([p, frozen.includes(p) ? `maintenance of ${p}` : undefined]);
      expect([p, r.ack?.actor]).toEqual([p, p === 'big257' ? 'bo' : undefined]);
      expect(r.intent).toBeUndefined();
    }
  });

  it('the controller and API count what they report in failover_records_invalid_total', async () => {
    const metrics = createMetrics(undefined, { defaultMetrics: false });
    const warned: string[] = [];
    const store = new StateStore(db(), k, reportInvalidRecords(metrics, (_key, m) => warned.push(m)));
    await db().set(k.portalState('t'), 'garbage');
    expect(await store.loadState('t')).toBeUndefined();
    expect((await metrics.recordsInvalid.get()).values).toEqual([{ labels: { record: 'state' }, value: 1 }]);
    expect(warned).toEqual([expect.stringMatching(/^ignoring stored state record .*:t.* that does not parse \(not JSON \(7 bytes\)\)/)]);
    expect(warned[0]).not.toContain('garbage');
  });
});
