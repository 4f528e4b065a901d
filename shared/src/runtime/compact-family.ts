type Labels<T extends string> = Partial<Record<T, string | number>>;

// Label values almost never need escaping; testing first spares three replaces per value on the checker's hot path.
const NEEDS_ESCAPE = /[\\\n"]/;
export const escapeValue = (v: string) => (NEEDS_ESCAPE.test(v) ? v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"') : v);
export const escapeText = (s: string) => s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

/** A sample value as Prometheus' text format spells it (prom-client's spelling, NaN included). */
export function valueText(v: number): string {
  if (Number.isNaN(v)) return 'Nan';
  if (!Number.isFinite(v)) return v < 0 ? '-Inf' : '+Inf';
  return `${v}`;
}

/**
 * A labelled counter or gauge that keeps each series as its rendered label text and a number, and nothing else.
 * prom-client keeps an entry object, a labels object and a hash string per series: at 12,500 portals the leader's
 * per-portal families (phase, active site, health, readiness, switchovers at zero for every route) are about
 * 440,000 series, which took half of its live heap and most of a scrape's work. Here a series costs its label text
 * and a map slot, and rendering it is one concatenation.
 *
 * It behaves as prom-client's Counter and Gauge do for what this project calls (set, inc, remove, reset, get) and
 * renders the same exposition text (the test compares them); label values render in the order of labelNames. It is
 * not in prom-client's Registry (whose typings admit only its own classes): createMetrics lists these families and
 * metricsText renders them with the registry's.
 */
export class CompactFamily<T extends string> {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge';
  readonly labelNames: readonly T[];
  private readonly series = new Map<string, number>();

  constructor(opts: { name: string; help: string; type: 'counter' | 'gauge'; labelNames: readonly T[]; families: CompactFamily<string>[] }) {
    this.name = opts.name;
    this.help = opts.help;
    this.type = opts.type;
    this.labelNames = opts.labelNames;
    opts.families.push(this);
  }

  set(labels: Labels<T>, value: number): void {
    if (typeof value !== 'number') throw new TypeError(`${this.name}: value is not a number: ${String(value)}`);
    this.series.set(this.key(labels), value);
  }

  /** A counter only goes up; inc(labels, 0) exports the series at zero. */
  inc(labels: Labels<T>, by = 1): void {
    if (typeof by !== 'number' || !Number.isFinite(by)) throw new TypeError(`${this.name}: increment is not a finite number: ${String(by)}`);
    if (this.type === 'counter' && by < 0) throw new Error(`${this.name}: a counter cannot be decreased (inc by ${by})`);
    const key = this.key(labels);
    this.series.set(key, (this.series.get(key) ?? 0) + by);
  }

  remove(labels: Labels<T>): void {
    this.series.delete(this.key(labels));
  }

  reset(): void {
    this.series.clear();
  }

  /** The family as prom-client's get() shows one (tests and the API read values this way); labels are parsed back from their text. */
  async get(): Promise<{ name: string; help: string; type: 'counter' | 'gauge'; values: { labels: Partial<Record<T, string>>; value: number }[] }> {
    const values: { labels: Partial<Record<T, string>>; value: number }[] = [];
    for (const [key, value] of this.series) values.push({ labels: this.parse(key), value });
    return { name: this.name, help: this.help, type: this.type, values };
  }

  /**
   * The family's exposition text in pieces of at most `perPiece` series; after each piece `pace` is told how many
   * series it held (the caller hands back to the event loop when enough were rendered).
   */
  async *chunks(pace: (series: number) => Promise<unknown>, perPiece: number): AsyncGenerator<string> {
    yield* familyPieces(this, this.series, pace, perPiece);
  }

  private key(labels: Labels<T>): string {
    let key = '';
    for (const k in labels) {
      if (!this.labelNames.includes(k)) throw new Error(`${this.name}: label "${k}" is not one of ${this.labelNames.join(', ')}`);
    }
    for (const k of this.labelNames) {
      const v = labels[k];
      if (v === undefined) continue;
      key += `${key ? ',' : ''}${k}="${escapeValue(String(v))}"`;
    }
    return key;
  }

  private parse(key: string): Partial<Record<T, string>> {
    const labels: Partial<Record<T, string>> = {};
    for (const m of key.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      labels[m[1] as T] = m[2].replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    return labels;
  }
}

/**
 * A counter's or gauge's exposition text (HELP, TYPE, one line per series given as its label text and value) in
 * pieces of at most `perPiece` series, telling `pace` how many series each piece held. The one renderer of flat
 * families, for CompactFamily and prom-client's counters and gauges alike.
 */
export async function* familyPieces(
  family: { name: string; help: string; type: string },
  series: Iterable<readonly [string, number]>,
  pace: (series: number) => Promise<unknown>,
  perPiece: number,
): AsyncGenerator<string> {
  const name = escapeText(family.name);
  let piece = `# HELP ${name} ${escapeText(family.help)}\n# TYPE ${name} ${family.type}`;
  let n = 0;
  for (const [labels, value] of series) {
    piece += `\n${name}${labels ? `{${labels}}` : ''} ${valueText(value)}`;
    if (++n === perPiece) {
      yield piece;
      await pace(n);
      piece = '';
      n = 0;
    }
  }
  if (piece) {
    yield piece;
    await pace(n);
  }
}

/** Pieces of exposition text, joined. */
export async function joinText(pieces: AsyncIterable<string>): Promise<string> {
  let text = '';
  for await (const piece of pieces) text += piece;
  return text;
}
