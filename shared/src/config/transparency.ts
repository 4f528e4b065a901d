import { z } from 'zod';
import type { Fields } from './fields';
import { parseSchedule } from '../drills/schedule';

/**
 * Config pieces of the public-facing side: the status page, the audit chain, evidence bundles and drills. Kept
 * out of schema.ts so that file stays the core shape; its cross-field rules that need the portal list live in
 * `transparencyRules`, called from the root schema's superRefine.
 */

function validTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

export function statusPageSchema(f: Fields) {
  return z
    .strictObject({
      /** Serve GET /status and /status.json without a token. */
      enabled: z.boolean().default(true),
      title: f.nonEmpty().default('Tình trạng dịch vụ công trực tuyến'),
      defaultLanguage: z.enum(['vi', 'en']).default('vi'),
      /** Incident and maintenance times are shown in this IANA zone. */
      timeZone: f.nonEmpty().refine(validTimeZone, 'must be an IANA time zone such as Asia/Ho_Chi_Minh').default('Asia/Ho_Chi_Minh'),
      /** How many incidents per portal the page lists, newest first. */
      incidents: z.int().min(1).max(100).default(10),
    })
    .prefault({});
}

export function auditSchema(f: Fields) {
  return z
    .strictObject({
      /** Entries younger than this are never trimmed by age; older ones are dropped (with a checkpoint). */
      retention: f.duration(3_600_000).prefault('90d'),
      /** Size cap: beyond this many entries the oldest are trimmed (with a checkpoint), whatever their age. */
      maxEntries: z.int().min(100).max(100_000_000).default(200_000),
    })
    .prefault({});
}

export function evidenceSchema(f: Fields) {
  return z
    .strictObject({
      /** How long the checker keeps a capture of a response that turned a check from up to down. */
      retention: f.duration(60_000).prefault('90d'),
      /** The body of a capture is cut after this many bytes. */
      maxBodyBytes: z.int().min(1024).max(1024 * 1024).default(64 * 1024),
    })
    .prefault({});
}

export function drillSchema(f: Fields) {
  return z.strictObject({
    portal: z.string().min(1),
    /** `every 6h` (any duration of at least 10s) or a five-field cron expression in UTC (`0 3 * * 1`). */
    schedule: z.string().transform((text, ctx) => {
      const s = parseSchedule(text);
      if (typeof s === 'string') {
        ctx.addIssue({ code: 'custom', message: s });
        return z.NEVER;
      }
      return s;
    }),
    mode: z.enum(['dryRun', 'roundTrip']).default('dryRun'),
    /** roundTrip: how long traffic stays on the standby before it is switched back. */
    holdFor: f.duration(0).prefault('1m'),
    /** roundTrip moves real traffic twice; it has to be allowed explicitly. */
    allowTrafficMove: z.boolean().default(false),
  });
}

export type DrillConfig = z.output<ReturnType<typeof drillSchema>>;

/** Cross-field rules that need the whole document (drills name portals). */
export function transparencyRules(
  c: { portals: { id: string }[]; drills?: DrillConfig[] },
  ctx: z.RefinementCtx,
): void {
  const ids = new Set(c.portals.map((p) => p.id));
  (c.drills ?? []).forEach((d, i) => {
    if (!ids.has(d.portal)) ctx.addIssue({ code: 'custom', path: ['drills', i, 'portal'], message: `unknown portal "${d.portal}" (known: ${[...ids].join(', ')})` });
    if (d.mode === 'roundTrip' && !d.allowTrafficMove) {
      ctx.addIssue({ code: 'custom', path: ['drills', i, 'allowTrafficMove'], message: 'must be true for mode roundTrip, which moves real traffic to the standby and back' });
    }
    if (d.mode === 'roundTrip' && d.schedule.kind === 'every' && d.holdFor >= d.schedule.everyMs) {
      ctx.addIssue({ code: 'custom', path: ['drills', i, 'holdFor'], message: 'must be shorter than the schedule interval' });
    }
  });
}
