import { z } from 'zod';
import type { Fields } from './fields';
import { isAbsolute } from 'node:path';
import { parseSchedule } from '../drills/schedule';
import { checkpointPrivateKey } from '../audit/checkpoint';
import type { AuditWitness } from '../audit/witness';
import { WithheldSecret } from './secret';

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
      /** Ed25519 private key (secret reference) the leader signs checkpoints of the chain head with. */
      signingKey: f.secret().optional(),
      /** How often the leader signs a checkpoint and sends it to the witnesses. */
      checkpointEvery: f.duration(10_000).prefault('1h'),
      /** Who keeps the signed checkpoints: an http(s) URL (POST of the JSON) or file:/path (one JSON line each). */
      witnesses: z.array(witnessSchema(f)).default([]),
    })
    .superRefine((a, ctx) => {
      if (a.signingKey && !a.witnesses.length) ctx.addIssue({ code: 'custom', path: ['witnesses'], message: 'must name at least one witness when signingKey is set: a checkpoint nobody keeps proves nothing' });
      if (!a.signingKey && a.witnesses.length) ctx.addIssue({ code: 'custom', path: ['signingKey'], message: 'is required when witnesses are set: checkpoints are signed with it' });
      if (a.signingKey && !(a.signingKey instanceof WithheldSecret)) {
        const k = checkpointPrivateKey(a.signingKey.reveal());
        if (!k.ok) ctx.addIssue({ code: 'custom', path: ['signingKey'], message: `${a.signingKey.source} ${k.error}` });
      }
    })
    .prefault({});
}

/** A witness as written (`https://…`, `http://…` or `file:/path`), parsed into its kind. */
function witnessSchema(f: Fields) {
  return f.nonEmpty().transform((text, ctx): AuditWitness => {
    if (text.startsWith('file:')) {
      const p = text.slice('file:'.length);
      if (!isAbsolute(p)) {
        ctx.addIssue({ code: 'custom', message: 'file: needs an absolute path, e.g. file:/var/lib/portal-failover/checkpoints.jsonl' });
        return z.NEVER;
      }
      return { kind: 'file', path: p };
    }
    let u: URL | undefined;
    try {
      u = new URL(text);
    } catch {
      u = undefined;
    }
    if (!u || (u.protocol !== 'https:' && u.protocol !== 'http:')) {
      // Never echo the value: a webhook URL may carry a token.
      ctx.addIssue({ code: 'custom', message: 'must be an http(s) URL or file:/path' });
      return z.NEVER;
    }
    return { kind: 'url', url: text };
  });
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
