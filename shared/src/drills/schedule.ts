import { parseDuration } from '../config/duration';

/**
 * A drill schedule: `every <duration>` or a five-field cron expression (minute hour day-of-month month
 * day-of-week, UTC). Pure: `slotAt(schedule, t)` names the occurrence a time belongs to, so "is a drill due" is
 * "is the current slot newer than the last one handled", and a leader change can never run one slot twice.
 */
export type Schedule = { kind: 'every'; text: string; everyMs: number } | { kind: 'cron'; text: string; fields: CronFields };

export interface CronFields {
  minute: Set<number>;
  hour: Set<number>;
  dom: Set<number>;
  month: Set<number>;
  dow: Set<number>;
  domAny: boolean;
  dowAny: boolean;
}

/** Sub-minute intervals are allowed (tests use `every 20s`); shorter than 10s would only be noise. */
export const MIN_EVERY_MS = 10_000;

const RANGES: [string, number, number][] = [
  ['minute', 0, 59],
  ['hour', 0, 23],
  ['day of month', 1, 31],
  ['month', 1, 12],
  ['day of week', 0, 7],
];

function parseField(text: string, [name, lo, hi]: [string, number, number]): Set<number> | string {
  const out = new Set<number>();
  for (const part of text.split(',')) {
    const m = /^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(part);
    if (!m) return `${name} "${part}" is not a number, range (1-5), list (1,3) or step (*/15)`;
    const from = m[1] === '*' ? lo : Number(m[2]);
    const to = m[1] === '*' ? hi : m[3] !== undefined ? Number(m[3]) : m[4] !== undefined ? hi : from;
    const step = m[4] !== undefined ? Number(m[4]) : 1;
    if (from < lo || to > hi || from > to || step < 1) return `${name} "${part}" is outside ${lo}-${hi}`;
    for (let v = from; v <= to; v += step) out.add(name === 'day of week' && v === 7 ? 0 : v);
  }
  return out;
}

export function parseSchedule(text: string): Schedule | string {
  const t = text.trim();
  const every = /^every\s+(\S+)$/i.exec(t);
  if (every) {
    const ms = parseDuration(every[1]);
    if (ms === undefined) return `"${every[1]}" is not a duration; write "every 6h" or "every 20s"`;
    if (ms < MIN_EVERY_MS) return `must be at least every 10s, got ${t}`;
    return { kind: 'every', text: t, everyMs: ms };
  }
  const parts = t.split(/\s+/);
  if (parts.length !== 5) return `"${t}" is neither "every <duration>" (every 6h) nor a five-field cron expression (0 3 * * 1)`;
  const sets: Set<number>[] = [];
  for (let i = 0; i < 5; i++) {
    const s = parseField(parts[i], RANGES[i]);
    if (typeof s === 'string') return `cron ${s}`;
    sets.push(s);
  }
  const [minute, hour, dom, month, dow] = sets;
  return { kind: 'cron', text: t, fields: { minute, hour, dom, month, dow, domAny: parts[2] === '*', dowAny: parts[4] === '*' } };
}

function cronMatches(f: CronFields, t: number): boolean {
  const d = new Date(t);
  if (!f.minute.has(d.getUTCMinutes()) || !f.hour.has(d.getUTCHours()) || !f.month.has(d.getUTCMonth() + 1)) return false;
  const domOk = f.dom.has(d.getUTCDate());
  const dowOk = f.dow.has(d.getUTCDay());
  // Classic cron: when both day fields are restricted, either one matching is enough.
  if (f.domAny && f.dowAny) return true;
  if (f.domAny) return dowOk;
  if (f.dowAny) return domOk;
  return domOk || dowOk;
}

/**
 * The occurrence `t` falls in, as the epoch ms it started at, or undefined when a cron schedule does not fire in
 * this minute. For `every`, slots are aligned to the epoch, so every controller computes the same ones.
 */
export function slotAt(s: Schedule, t: number): number | undefined {
  if (s.kind === 'every') return Math.floor(t / s.everyMs) * s.everyMs;
  const minute = Math.floor(t / 60_000) * 60_000;
  return cronMatches(s.fields, minute) ? minute : undefined;
}
