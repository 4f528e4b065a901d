import { z } from 'zod';

/**
 * Risk windows: announced cuts (a billing deadline, a data-centre notice). From `start − leadTime` until the
 * window ends, the leader keeps every DNS step's TTL at `lowerTtlTo`, so the switch that may follow reaches
 * resolvers within seconds; after it, the configured TTL comes back. Pure rules over time, no I/O, no clock.
 */

const epochMs = z.number();

/** One window as the controller uses it: config and API windows alike, times as epoch ms, TTL in seconds. */
export const RiskWindowSchema = z.object({
  name: z.string().min(1),
  /** The start as written, with its zone (shown to people as written: never "midnight" without a zone). */
  start: z.string().min(1),
  startsAt: epochMs,
  durationMs: z.number().int().positive(),
  leadTimeMs: z.number().int().nonnegative(),
  /** Seconds; the TTL every DNS step keeps from start − leadTime until the end. */
  lowerTtlTo: z.number().int().positive(),
  /** Faster probing during the window (the checker's own interval when absent or slower). */
  probeIntervalMs: z.number().int().positive().optional(),
  /** `config` windows live in the config file; `api` windows were announced through the API and can be removed there. */
  source: z.enum(['config', 'api']),
  createdBy: z.string().optional(),
  createdAt: epochMs.optional(),
  reason: z.string().optional(),
});
export type RiskWindow = z.output<typeof RiskWindowSchema>;

/** What the leader last made the DNS steps hold for a window: kept in the portal's state, so a new leader restores it. */
export const TtlLoweredSchema = z.object({ ttl: z.number().int().positive(), window: z.string(), at: epochMs });
export type TtlLowered = z.output<typeof TtlLoweredSchema>;

export type RiskWindowPhase = 'scheduled' | 'preparing' | 'active' | 'ended';

export function windowEndsAt(w: Pick<RiskWindow, 'startsAt' | 'durationMs'>): number {
  return w.startsAt + w.durationMs;
}

/** The zone suffix of an ISO time as written ("+07:00", "Z"). */
export function zoneOf(text: string): string {
  return /(Z|[+-]\d{2}:\d{2})$/.exec(text)?.[1] ?? 'Z';
}

/** `ms` as an ISO time to the second in `zone` ("+07:00" or "Z"): how a window's times are shown, in its own zone. */
export function isoInZone(ms: number, zone: string): string {
  if (zone === 'Z') return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const sign = zone[0] === '-' ? -1 : 1;
  const offset = sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6))) * 60_000;
  return `${new Date(ms + offset).toISOString().slice(0, 19)}${zone}`;
}

/** A window's end in the zone its start was written in. */
export function windowEndText(w: Pick<RiskWindow, 'start' | 'startsAt' | 'durationMs'>): string {
  return isoInZone(windowEndsAt(w), zoneOf(w.start));
}

/** scheduled → preparing (from start − leadTime: TTLs lowered, standby re-verified) → active (the cut may come) → ended. */
export function windowPhase(w: Pick<RiskWindow, 'startsAt' | 'durationMs' | 'leadTimeMs'>, now: number): RiskWindowPhase {
  if (now >= windowEndsAt(w)) return 'ended';
  if (now >= w.startsAt) return 'active';
  if (now >= w.startsAt - w.leadTimeMs) return 'preparing';
  return 'scheduled';
}

/** Whether the window asks for lowered TTLs and faster probes at `now`. */
export function windowInForce(w: Pick<RiskWindow, 'startsAt' | 'durationMs' | 'leadTimeMs'>, now: number): boolean {
  const p = windowPhase(w, now);
  return p === 'preparing' || p === 'active';
}

/**
 * The TTL the DNS steps should hold now: the lowest `lowerTtlTo` of the windows in force (overlapping windows
 * never raise it), or undefined when none is, which means the configured TTL.
 */
export function ttlTarget(windows: readonly RiskWindow[], now: number): { ttl: number; window: string } | undefined {
  let best: { ttl: number; window: string } | undefined;
  for (const w of windows) {
    if (!windowInForce(w, now)) continue;
    if (!best || w.lowerTtlTo < best.ttl) best = { ttl: w.lowerTtlTo, window: w.name };
  }
  return best;
}

export type TtlAction = { kind: 'lower'; ttl: number; window: string } | { kind: 'restore'; from: TtlLowered } | { kind: 'none' };

/**
 * What the leader does about TTLs, given what it last made the steps hold (`lowered`, from the state) and the
 * windows: lower (or lower further, or raise to a later window's value) while one is in force, restore after.
 * Level-triggered, so a leader that took over mid-window, or crashed half-way, reaches the same end.
 */
export function ttlAction(lowered: TtlLowered | undefined, windows: readonly RiskWindow[], now: number): TtlAction {
  const target = ttlTarget(windows, now);
  if (target) return lowered?.ttl === target.ttl ? { kind: 'none' } : { kind: 'lower', ...target };
  return lowered ? { kind: 'restore', from: lowered } : { kind: 'none' };
}

/** The shortest probe interval a window in force asks for (undefined: the checks' own intervals). */
export function probeIntervalTarget(windows: readonly RiskWindow[], now: number): number | undefined {
  let best: number | undefined;
  for (const w of windows) {
    if (w.probeIntervalMs === undefined || !windowInForce(w, now)) continue;
    best = best === undefined ? w.probeIntervalMs : Math.min(best, w.probeIntervalMs);
  }
  return best;
}

/** Windows in the order people read them: by start, then name. */
export function sortWindows<W extends Pick<RiskWindow, 'startsAt' | 'name'>>(windows: readonly W[]): W[] {
  return [...windows].sort((a, b) => a.startsAt - b.startsAt || a.name.localeCompare(b.name));
}
