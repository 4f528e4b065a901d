import { Counter, Gauge, Registry } from 'prom-client';
import { CompactFamily, joinText } from './compact-family';

const turn = () => new Promise((r) => setImmediate(r));
const textOf = (compact: CompactFamily<string>, perPiece: number) => joinText(compact.chunks(turn, perPiece));

/** What both families are called with here: each operation is written once and made on both. */
interface Ops<T extends string> {
  set(labels: Partial<Record<T, string | number>>, value: number): void;
  inc(labels: Partial<Record<T, string | number>>, value?: number): void;
  remove(labels: Partial<Record<T, string | number>>): void;
}

function pair<T extends string>(type: 'counter' | 'gauge', labelNames: readonly T[]) {
  const families: CompactFamily<string>[] = [];
  const compact = new CompactFamily({ name: `x_${type}`, help: 'A "family"\nwith a back\\slash', type, labelNames, families });
  const registry = new Registry();
  const opts = { name: `x_${type}`, help: 'A "family"\nwith a back\\slash', labelNames, registers: [registry] };
  return { compact, families, registry, ref: type === 'counter' ? new Counter(opts) : new Gauge(opts) };
}

describe('CompactFamily', () => {
  it('renders what prom-client renders for the same sets, increments, removals and label values', async () => {
    const { compact, families, registry, ref } = pair('gauge', ['portal', 'site'] as const);
    expect(families).toEqual([compact]);
    const g = ref as Gauge<'portal' | 'site'>;
    const both = (op: (m: Ops<'portal' | 'site'>) => void) => [compact, g].forEach(op);
    for (const [labels, v] of [
      [{ portal: 'p1', site: 'primary' }, 1],
      [{ portal: 'a"b', site: 'back\\slash' }, -1],
      [{ portal: 'new\nline', site: 's' }, NaN],
      [{ site: 'only-site' }, Infinity],
      [{ portal: 'p1', site: 'primary' }, 0.125],
      [{ portal: 'p2', site: 'standby' }, -Infinity],
    ] as const) {
      both((m) => m.set(labels, v));
    }
    both((m) => m.inc({ portal: 'p3', site: 'x' }, 2));
    both((m) => m.remove({ portal: 'p2', site: 'standby' }));
    // Label order in the call does not matter: one series per label set.
    compact.set({ site: 'primary', portal: 'p1' }, 7);
    g.set({ portal: 'p1', site: 'primary' }, 7);
    expect(await textOf(compact, 2)).toBe(await registry.metrics().then((t) => t.trimEnd()));
    expect((await compact.get()).values).toEqual((await g.get()).values.map((v) => ({ labels: Object.fromEntries(Object.entries(v.labels).map(([k, x]) => [k, String(x)])), value: v.value })));
  });

  it('counts like a prom-client counter: from zero on inc(labels, 0), never down', async () => {
    const { compact, registry, ref } = pair('counter', ['portal', 'result'] as const);
    const c = ref as Counter<'portal' | 'result'>;
    const both = (op: (m: Pick<Ops<'portal' | 'result'>, 'inc'>) => void) => [compact, c].forEach(op);
    both((m) => m.inc({ portal: 'p', result: 'failed' }, 0));
    both((m) => m.inc({ portal: 'p', result: 'success' }));
    both((m) => m.inc({ portal: 'p', result: 'success' }, 2.5));
    expect(await textOf(compact, 100)).toBe((await registry.metrics()).trimEnd());
    expect(() => compact.inc({ portal: 'p', result: 'success' }, -1)).toThrow(/cannot be decreased/);
    expect(() => compact.inc({ portal: 'p', result: 'success' }, NaN)).toThrow(/not a finite number/);
    compact.reset();
    expect(await textOf(compact, 100)).toBe(`# HELP x_counter A "family"\\nwith a back\\\\slash\n# TYPE x_counter counter`);
  });

  it('refuses a label it was not declared with, naming the family and the label', () => {
    const { compact } = pair('gauge', ['portal'] as const);
    expect(() => compact.set({ portal: 'p', site: 's' } as never, 1)).toThrow('x_gauge: label "site" is not one of portal');
    expect(() => compact.set({ portal: 'p' }, 'one' as never)).toThrow(/x_gauge: value is not a number/);
  });
});
