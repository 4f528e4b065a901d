import { ProbeSlots } from './probe-slots';

const tick = () => new Promise((r) => setImmediate(r));

describe('ProbeSlots', () => {
  it('lets `size` probes in at once and the rest in arrival order as slots are released', async () => {
    const slots = new ProbeSlots(2);
    const order: number[] = [];
    const waiters = Array.from({ length: 3000 }, (_, i) => slots.acquire().then(() => order.push(i)));
    await tick();
    expect(order).toEqual([0, 1]);
    // Release one at a time: each release lets exactly the next waiter in (past the queue's compaction point too).
    for (let i = 2; i < 3000; i++) {
      slots.release();
      await tick();
      expect(order.length).toBe(i + 1);
      expect(order[i]).toBe(i);
    }
    await Promise.all(waiters);
    // Two still held; once both are released a new acquire gets a slot at once, a third waits.
    slots.release();
    slots.release();
    let third = false;
    await slots.acquire();
    await slots.acquire();
    void slots.acquire().then(() => (third = true));
    await tick();
    expect(third).toBe(false);
    slots.release();
    await tick();
    expect(third).toBe(true);
  });
});
