import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { HEAP_GROWING_PERCENT } from './heap-growth';

// The built module (`npm test` builds first): the flag must be set in a process of its own, not in Jest's.
const BUILT = path.resolve(__dirname, '../../dist/runtime/heap-growth.js');

/**
 * A process with 600,000 long-lived objects that keeps promoting short-lived ones, as a busy controller does.
 * Prints whether limitHeapGrowth set the flag and the largest heap V8 reserved.
 */
const CHURN = `
const v8 = require('node:v8');
const { limitHeapGrowth } = require(${JSON.stringify(BUILT)});
const set = process.env.LIMIT ? limitHeapGrowth() : undefined;
const live = [];
for (let i = 0; i < 600000; i++) live.push({ a: i, b: 'k' + i, c: [i] });
const ring = new Array(64).fill(null);
let max = 0;
for (let i = 0; i < 6000; i++) {
  ring[i % 64] = Array.from({ length: 2000 }, (_, j) => ({ j, s: 'x' + j }));
  if (i % 10 === 0) max = Math.max(max, v8.getHeapStatistics().total_heap_size);
}
process.stdout.write(JSON.stringify({ set: set ?? null, heapTotal: max, live: live.length }));
`;

function churn(nodeArgs: string[], limit: boolean): { set: number | null; heapTotal: number } {
  const out = execFileSync(process.execPath, [...nodeArgs, '-e', CHURN], { env: { ...process.env, LIMIT: limit ? '1' : '' }, encoding: 'utf8' });
  return JSON.parse(out) as { set: number | null; heapTotal: number };
}

// V8's own factor depends on how fast its GC runs against the program (machine load moves it); the operator's
// flag fixes it, so the comparison is with 4× set on the command line.
const FOUR_TIMES = '--heap-growing-percent=300';

describe('limitHeapGrowth', () => {
  it('keeps the heap of a process that promotes fast well below what a 4x growth lets it reach', () => {
    const limited = churn([], true);
    const fourTimes = churn([FOUR_TIMES], false);
    expect(limited.set).toBe(HEAP_GROWING_PERCENT);
    // Same live data: about 120 MiB reserved at 1.5x, about 250 MiB at 4x.
    expect(limited.heapTotal).toBeLessThan(0.75 * fourTimes.heapTotal);
  });

  it("leaves an operator's own --heap-growing-percent in force, spelled either way", () => {
    const limited = churn([], true);
    for (const flag of [FOUR_TIMES, '--heap_growing_percent=300']) {
      const theirs = churn([flag], true);
      expect(theirs.set).toBeNull();
      expect(theirs.heapTotal).toBeGreaterThan(limited.heapTotal / 0.75);
    }
  });
});
