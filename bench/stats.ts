/** Summary figures of a sample, in the sample's unit. */
export interface Summary {
  n: number;
  min: number;
  median: number;
  p95: number;
  max: number;
}

/**
 * Median interpolates between the two middle values; p95 is the nearest-rank value, so with 10 trials it is the
 * maximum. Nearest rank never reports a time that no trial took, which matters with samples this small.
 */
export function summarize(values: readonly number[]): Summary | undefined {
  if (values.length === 0) return undefined;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  const median = s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  const p95 = s[Math.max(0, Math.ceil(0.95 * s.length) - 1)];
  return { n: s.length, min: s[0], median, p95, max: s[s.length - 1] };
}

/** Plain-text table with right-aligned columns except the first; markdown-free so it reads in a terminal. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function summaryRow(label: string, values: readonly number[], missing: number): string[] {
  const s = summarize(values);
  const f = (v: number | undefined) => (v === undefined ? '-' : v.toFixed(2));
  const n = missing > 0 ? `${values.length} (+${missing} timed out)` : String(values.length);
  return [label, n, f(s?.min), f(s?.median), f(s?.p95), f(s?.max)];
}

/** A positive whole number from the environment (a bench knob), or the default; anything else stops the bench. */
export function intEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  return n;
}
