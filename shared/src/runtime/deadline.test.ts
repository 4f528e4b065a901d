import { performance } from 'node:perf_hooks';
import { stallAwareDeadline, stallClock, stallNote } from './deadline';

/** Keeps this process from running anything else, as a long GC pause or a starved core would. */
function stall(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

/** A deadline of `timeoutMs`, with the process stalled for `stallMs` right after it was set: what it gave back, and when. */
function expiry(timeoutMs: number, stallMs = 0): Promise<{ stalledMs: number; afterMs: number }> {
  const started = performance.now();
  const done = new Promise<{ stalledMs: number; afterMs: number }>((resolve) =>
    stallAwareDeadline(timeoutMs, (stalledMs) => resolve({ stalledMs, afterMs: performance.now() - started })),
  );
  stall(stallMs);
  return done;
}

describe('stallAwareDeadline', () => {
  it('expires after its timeout; whatever it gave back, it waited that much longer', async () => {
    // On a shared machine even a free-running test process may be late now and then, so "nothing given back" is
    // not something to assert here; that time given back is time waited is.
    const r = await expiry(100);
    expect(r.afterMs).toBeGreaterThanOrEqual(99);
    expect(r.stalledMs).toBeLessThanOrEqual(r.afterMs - 99);
  });

  it('gives a stall that covered its time back once, then expires', async () => {
    const r = await expiry(300, 500);
    // The timer fired about 200 ms late: that much more time (under its 300 ms cap), after which it fired on time.
    expect(r.stalledMs).toBeGreaterThanOrEqual(190);
    expect(r.stalledMs).toBeLessThanOrEqual(300);
    expect(r.afterMs).toBeGreaterThanOrEqual(300 + r.stalledMs - 5);
  });

  it('gives back at most the timeout, so a hung peer is still reported', async () => {
    const r = await expiry(100, 1_000);
    expect(r.stalledMs).toBe(100);
    expect(r.afterMs).toBeGreaterThanOrEqual(1_000);
  });

  it('never calls back once cancelled, not even when cancelled between the timer and the verdict', async () => {
    let called = 0;
    const d = stallAwareDeadline(20, () => called++);
    d.cancel();
    d.cancel();
    // Cancelled in the same turn the timer fired: the verdict waits for setImmediate, and must not come.
    const late = stallAwareDeadline(20, () => called++);
    setTimeout(() => late.cancel(), 20);
    await new Promise((r) => setTimeout(r, 150));
    expect(called).toBe(0);
  });

  it('says in the detail when a stall was given back', () => {
    expect(stallNote(0)).toBe('');
    expect(stallNote(240)).toBe(' (this process was stalled 240 ms; the deadline was extended by as much)');
  });
});

describe('stallClock', () => {
  it('counts a stall of the process, and never more than the time that passed', async () => {
    const free = stallClock();
    const freeFrom = performance.now();
    await new Promise((r) => setTimeout(r, 200));
    // Never more than the time that passed (a busy machine may make it more than 0).
    expect(free.stalledMs()).toBeLessThanOrEqual(performance.now() - freeFrom);
    const clock = stallClock();
    const from = performance.now();
    stall(300);
    // The clock's timer sees its lateness when it fires next, before a timer due later.
    await new Promise((r) => setTimeout(r, 30));
    expect(clock.stalledMs()).toBeGreaterThanOrEqual(250);
    expect(clock.stalledMs()).toBeLessThanOrEqual(performance.now() - from);
  });
});
