import { parseDuration } from '@portal-failover/shared/duration';

/**
 * Plain-text rendering for people at a terminal. Everything here is deterministic and free of colour codes, so
 * the output reads the same in a pager, a chat paste and a test assertion.
 */

export type Cell = string | number | undefined | null;

/** Columns sized to their widest cell, two spaces apart; the last column is not padded (no trailing blanks). */
export function table(headers: string[], rows: Cell[][]): string {
  const text = rows.map((r) => headers.map((_h, i) => cell(r[i])));
  const widths = headers.map((h, i) => Math.max(h.length, ...text.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(headers), ...text.map(line)].join('\n') + '\n';
}

function cell(v: Cell): string {
  if (v === undefined || v === null || v === '') return '-';
  // A newline inside a cell would break the row apart.
  return String(v).replace(/\s*\n\s*/g, ' ');
}

/** "label: value" lines with the values aligned, for one-object views such as `status <portal>`. */
export function fields(pairs: [string, Cell][], indent = '  '): string {
  const width = Math.max(...pairs.map(([k]) => k.length)) + 1;
  return pairs.map(([k, v]) => `${indent}${`${k}:`.padEnd(width)}  ${cell(v)}`).join('\n') + '\n';
}

/** Human duration: 850ms, 1.2s, 3m 05s, 2h 03m, 1d 4h. */
export function duration(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  const neg = ms < 0 ? '-' : '';
  const a = Math.abs(ms);
  if (a < 1000) return `${neg}${Math.round(a)}ms`;
  if (a < 60_000) return `${neg}${(a / 1000).toFixed(a < 10_000 ? 1 : 0)}s`;
  const s = Math.floor(a / 1000);
  if (a < 3_600_000) return `${neg}${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  const m = Math.floor(s / 60);
  if (a < 86_400_000) return `${neg}${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`;
  const h = Math.floor(m / 60);
  return `${neg}${Math.floor(h / 24)}d ${h % 24}h`;
}

/**
 * UTC ISO time without milliseconds. UTC because the audit log, the service logs and Grafana all speak it, and an
 * incident timeline pasted from several people must line up.
 */
export function timestamp(t: number | string | undefined): string | undefined {
  if (t === undefined) return undefined;
  const ms = typeof t === 'number' ? t : Date.parse(t);
  if (!Number.isFinite(ms)) return String(t);
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** "2026-11-23T14:05:03Z (3m 05s ago)" — the absolute time for the record, the relative one for the reader. */
export function when(t: number | string | undefined, now = Date.now()): string | undefined {
  if (t === undefined) return undefined;
  const ms = typeof t === 'number' ? t : Date.parse(t);
  if (!Number.isFinite(ms)) return String(t);
  const d = now - ms;
  return `${timestamp(ms)} (${d >= 0 ? `${duration(d)} ago` : `in ${duration(-d)}`})`;
}

/** Parses a user-given duration ("2h", "90m", "500ms"); undefined when it is not one. */
export function parseUserDuration(text: string): number | undefined {
  const ms = parseDuration(text);
  return ms !== undefined && ms > 0 ? ms : undefined;
}

/**
 * A point in time given as an ISO 8601 date-time or as a duration meaning "that long ago" (`24h`), as epoch ms.
 * undefined when it is neither. A bare date (2026-11-23) is accepted as midnight UTC.
 */
export function parseInstantOrAgo(text: string, now = Date.now()): number | undefined {
  const ago = parseUserDuration(text);
  if (ago !== undefined) return now - ago;
  if (!/^\d{4}-\d{2}-\d{2}/.test(text)) return undefined;
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? ms : undefined;
}

export function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}
