import type { Request, Response } from 'express';
import { z } from 'zod';
import {
  formatDuration,
  isoInZone,
  zoneOf,
  riskWindowBodySchema,
  riskWindowIssues,
  windowEndsAt,
  windowPhase,
  type PortalConfig,
  type RiskWindow,
  type TtlLowered,
} from '@portal-failover/shared';
import { callerOf } from './auth';
import type { ApiContext } from './context';
import { HttpError, parseOr400 } from './http-errors';

/**
 * GET/POST/DELETE /api/v1/portals/:id/risk-windows: announced cuts. The API stores the windows announced through
 * it; the leader reads them and lowers and restores the DNS TTLs (services/controller/src/risk-windows.ts).
 * Times are shown as they were written, with their zone, and in UTC: never "midnight" without saying whose.
 */

export const RiskWindowBody = riskWindowBodySchema;
export const RiskWindowDeleteBody = z.strictObject({ reason: z.string().trim().min(3, 'must say why in at least 3 characters').max(500, 'must be at most 500 characters').optional() });

export const RiskWindowView = z.object({
  name: z.string(),
  /** As written, with its zone. */
  start: z.string(),
  /** The end in the start's zone. */
  end: z.string(),
  startUtc: z.string(),
  endUtc: z.string(),
  /** From here the TTLs are lowered and the standby re-verified (start − leadTime), in the start's zone. */
  prepareFrom: z.string(),
  duration: z.string(),
  leadTime: z.string(),
  lowerTtlTo: z.number(),
  probeInterval: z.string().nullable(),
  phase: z.enum(['scheduled', 'preparing', 'active', 'ended']),
  source: z.enum(['config', 'api']),
  /** Whether the DNS TTLs are lowered for this window now (verified by the leader). */
  ttlLowered: z.boolean(),
  reason: z.string().nullable(),
  createdBy: z.string().nullable(),
});
export const RiskWindowListResponse = z.object({ portal: z.string(), ttlLowered: z.object({ ttl: z.number(), window: z.string(), at: z.string() }).nullable(), windows: z.array(RiskWindowView) });
export const RiskWindowResponse = z.object({ portal: z.string(), window: RiskWindowView });

/** formatDuration writes 0 as "0ms"; a lead time of none reads better as "0s". */
function leadTimeText(w: Pick<RiskWindow, 'leadTimeMs'>): string {
  return w.leadTimeMs ? formatDuration(w.leadTimeMs) : '0s';
}

export function windowView(w: RiskWindow, lowered: TtlLowered | undefined, now: number): z.output<typeof RiskWindowView> {
  const zone = zoneOf(w.start);
  const end = windowEndsAt(w);
  return {
    name: w.name,
    start: w.start,
    end: isoInZone(end, zone),
    startUtc: isoInZone(w.startsAt, 'Z'),
    endUtc: isoInZone(end, 'Z'),
    prepareFrom: isoInZone(w.startsAt - w.leadTimeMs, zone),
    duration: formatDuration(w.durationMs),
    leadTime: leadTimeText(w),
    lowerTtlTo: w.lowerTtlTo,
    probeInterval: w.probeIntervalMs !== undefined ? formatDuration(w.probeIntervalMs) : null,
    phase: windowPhase(w, now),
    source: w.source,
    ttlLowered: lowered?.window === w.name,
    reason: w.reason ?? null,
    createdBy: w.createdBy ?? null,
  };
}

/** Every window of a portal (config and API), in start order, as shown with `lowered` (the leader's state). */
export async function portalWindows(ctx: ApiContext, p: PortalConfig, lowered: TtlLowered | undefined): Promise<z.output<typeof RiskWindowView>[]> {
  const now = ctx.now();
  return (await ctx.riskWindows.forPortal(p)).map((w) => windowView(w, lowered, now));
}

/** The `ttlLowered` member of the portal view and the window list. */
export function loweredView(lowered: TtlLowered | undefined): z.output<typeof RiskWindowListResponse>['ttlLowered'] {
  return lowered ? { ttl: lowered.ttl, window: lowered.window, at: new Date(lowered.at).toISOString() } : null;
}

export async function listRiskWindows(ctx: ApiContext, p: PortalConfig, res: Response): Promise<void> {
  const lowered = (await ctx.store.loadState(p.id))?.ttlLowered;
  res.json({ portal: p.id, ttlLowered: loweredView(lowered), windows: await portalWindows(ctx, p, lowered) });
}

export async function addRiskWindow(ctx: ApiContext, p: PortalConfig, req: Request, res: Response): Promise<void> {
  const parsed = parseOr400(RiskWindowBody, req.body, 'body');
  const caller = callerOf(res);
  const now = ctx.now();
  const issues = riskWindowIssues(parsed, p.traffic, now);
  if (issues.length) throw new HttpError(400, 'invalid body', issues.map((i) => ({ path: i.path.join('.'), message: i.message })));
  if (p.riskWindows.some((w) => w.name === parsed.name)) {
    throw new HttpError(409, `risk window "${parsed.name}" is in the config file of ${p.id}; choose another name (config windows change with the config)`);
  }
  const w: RiskWindow = { ...parsed, createdBy: caller.name, createdAt: now };
  const r = await ctx.riskWindows.add(p.id, w);
  if (r === 'exists') throw new HttpError(409, `risk window "${w.name}" already exists for ${p.id}; delete it first to change it`);
  if (r === 'full') throw new HttpError(409, `${p.id} already has the most announced risk windows allowed; delete ended ones first`);
  await ctx.audit.append({ type: 'risk-window.added', portal: p.id, actor: caller.name, client: caller.client, reason: w.reason ?? `risk window ${w.name}`, data: { window: w.name, start: w.start, duration: formatDuration(w.durationMs), leadTime: leadTimeText(w), lowerTtlTo: w.lowerTtlTo } });
  const state = await ctx.store.loadState(p.id);
  res.status(201).location(`/api/v1/portals/${encodeURIComponent(p.id)}/risk-windows`).json({ portal: p.id, window: windowView(w, state?.ttlLowered, ctx.now()) });
}

export async function removeRiskWindow(ctx: ApiContext, p: PortalConfig, req: Request, res: Response): Promise<void> {
  const name = String(req.params.name);
  const body = parseOr400(RiskWindowDeleteBody, req.body ?? {}, 'body');
  const caller = callerOf(res);
  if (p.riskWindows.some((w) => w.name === name)) throw new HttpError(409, `risk window "${name}" is in the config file of ${p.id}: remove it there`);
  const removed = await ctx.riskWindows.remove(p.id, name);
  if (!removed) throw new HttpError(404, `no announced risk window "${name.slice(0, 100)}" for ${p.id}`);
  await ctx.audit.append({ type: 'risk-window.removed', portal: p.id, actor: caller.name, client: caller.client, reason: body.reason ?? `risk window ${name} withdrawn`, data: { window: name, start: removed.start } });
  const state = await ctx.store.loadState(p.id);
  res.json({ portal: p.id, window: windowView(removed, state?.ttlLowered, ctx.now()) });
}
