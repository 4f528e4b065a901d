import { mapInLanes } from './lanes';

describe('mapInLanes', () => {
  it('keeps the items’ order whatever order they finish in, and never runs more than its lanes at once', async () => {
    let running = 0;
    let most = 0;
    const items = Array.from({ length: 50 }, (_, i) => i);
    const out = await mapInLanes(items, 4, async (n, i) => {
      running++;
      most = Math.max(most, running);
      await new Promise((r) => setTimeout(r, (n * 7) % 5));
      running--;
      return `${n}@${i}`;
    });
    expect(out).toEqual(items.map((n) => `${n}@${n}`));
    expect(most).toBe(4);
  });

  it('handles no items and fewer items than lanes', async () => {
    expect(await mapInLanes([], 8, async () => 1)).toEqual([]);
    expect(await mapInLanes(['a'], 8, async (s) => s.toUpperCase())).toEqual(['A']);
  });

  it('rejects with the first failure', async () => {
    await expect(mapInLanes([1, 2, 3], 2, async (n) => {
      if (n === 2) throw new Error('item 2 failed');
      return n;
    })).rejects.toThrow('item 2 failed');
  });
});
