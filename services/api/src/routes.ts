// Over 350 lines on purpose: this is the API's route table, one declaration per route (method, path, role, zod
// schemas for OpenAPI, handler) in the order the OpenAPI document lists them; the rules the handlers apply live in
// the core (preconditions) and in the modules they import, so splitting the table would only scatter the index.
import { randomBytes } from 'node:crypto';
import type { Request, Response } from 'express';
import type { z } from 'zod';
import {
  createProvider,
  createLogger,
  initialState,
  mapInLanes,
  sendMetrics,
  portalModel,
  preconditions,
  probeRedis,
  refusal,
  type PortalConfig,
  type PortalModel,
  type PreconditionState,
  type SwitchIntent,
} from '@portal-failover/shared';
import { callerOf, type Caller, type Role } from './auth';
import type { ApiContext } from './context';
import { HttpError, parseOr400 } from './http-errors';
import { operationsPage } from './operation-pages';
import { PORTAL_READ_LANES, portalView } from './portal-view';
import { sendProblem } from './problem';
import * as S from './schemas';
import { statusHtml, statusJson } from './status-page/status-routes';
import { buildEvidenceBundle } from './evidence/bundle';
import { reloadTokensAudited } from './token-reload';
import { addRiskWindow, listRiskWindows, removeRiskWindow, RiskWindowBody, RiskWindowDeleteBody, RiskWindowListResponse, RiskWindowResponse } from './risk-windows';

/** /readyz answers within this (plus the response) even while Redis is paused or unreachable. */
const READY_TIMEOUT_MS = 500;

export interface RouteDef {
  method: 'get' | 'post' | 'delete';
  /** Express path syntax; `:id` parameters become OpenAPI path parameters. */
  path: string;
  /** undefined: no token needed (probes, metrics, the OpenAPI document). */
  role?: Role;
  summary: string;
  body?: z.ZodType;
  /** Larger than the default 16kb only where a client legitimately sends more (Alertmanager groups). */
  bodyLimit?: string;
  query?: z.ZodType;
  responses: Record<number, { description: string; schema?: z.ZodType }>;
  /** Changes something: audited, and answered only with a reason. */
  mutates?: boolean;
  /** Still served, but documented as deprecated with this sentence (what to use instead); answers carry `Deprecation`. */
  deprecated?: string;
  handler(ctx: ApiContext, req: Request, res: Response): Promise<void>;
}

const quietLogger = createLogger({ silent: true });

function portalOr404(ctx: ApiContext, id: string): PortalConfig {
  const p = ctx.config.portals.find((x) => x.id === id);
  if (!p) throw new HttpError(404, `unknown portal "${id}" (known: ${ctx.config.portals.map((x) => x.id).join(', ')})`);
  return p;
}

function newOperationId(portal: string, now: number): string {
  return `${portal}-${now.toString(36)}-${randomBytes(3).toString('hex')}`;
}

function switchIntent(p: PortalConfig, o: { to?: string; from: string; trigger: 'manual' | 'alert'; reason: string; actor: string; client: string; force: boolean; expectFrom?: string; now: number }): SwitchIntent {
  return { id: newOperationId(p.id, o.now), portal: p.id, from: o.from, to: o.to, trigger: o.trigger, reason: o.reason, actor: o.actor, client: o.client, force: o.force, expectFrom: o.expectFrom, requestedAt: o.now };
}

/**
 * The state the runbook checks read on the API side: the leader's last stored state (or the initial one before
 * any leader wrote it), with freeze, acknowledgement and waiting request from the API's own control records,
 * which are newer than the leader's copy.
 */
async function preconditionView(ctx: ApiContext, p: PortalConfig, model: PortalModel): Promise<{ state: PreconditionState }> {
  const [state, controls] = await Promise.all([ctx.store.loadState(p.id), ctx.control.read([p.id])]);
  const c = controls.get(p.id) ?? {};
  const base = state ?? initialState(model);
  return { state: { ...base, frozen: c.freeze, ackedAt: c.ack?.at, waiting: c.intent?.request.id } };
}

function instant(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  return /^\d+$/.test(v) ? Number(v) : Date.parse(v);
}

async function switchover(ctx: ApiContext, req: Request, res: Response): Promise<void> {
  const p = portalOr404(ctx, String(req.params.id));
  const body = parseOr400(S.SwitchoverBody, req.body, 'body');
  const caller = callerOf(res);
  const site = p.sites.find((s) => s.name === body.to);
  if (!site) throw new HttpError(400, 'invalid body', [{ path: 'to', message: `unknown site "${body.to}" (sites: ${p.sites.map((s) => s.name).join(', ')})` }]);
  const model = portalModel(p);
  const view = await preconditionView(ctx, p, model);
  const force = body.force ?? false;
  const request = { operationId: '', trigger: 'manual' as const, to: site.name, force };
  const report = preconditions(view.state, model, request, ctx.now());
  const active = report.from;
  const busy = view.state.inflight?.operationId ?? view.state.waiting;
  if (body.dryRun) {
    const plan = await Promise.all(
      p.traffic.map(async (step, i) => {
        const provider = createProvider(step, { logger: quietLogger });
        try {
          const pl = provider.plan(await provider.read(), { name: site.name, routing: site.routing });
          return { step: i + 1, kind: provider.kind, label: provider.label, changes: pl.changes, description: pl.description, request: pl.request };
        } catch (err) {
          return { step: i + 1, kind: provider.kind, label: provider.label, error: (err as Error).message };
        }
      }),
    );
    res.json({ dryRun: true, portal: p.id, from: active, to: site.name, preconditions: report.checks, wouldProceed: report.blocking.length === 0, plan });
    return;
  }
  const refused = refusal(report, request);
  if (refused !== undefined) throw new HttpError(409, refused, undefined, busy ? { operationId: busy } : {});
  const op = switchIntent(p, { to: site.name, from: active, trigger: 'manual', reason: body.reason, actor: caller.name, client: caller.client, force, now: ctx.now() });
  const forcedPast = report.forcedPast.map((x) => x.check);
  const entry = { type: 'operation.requested', portal: p.id, actor: caller.name, client: caller.client, reason: body.reason, operation: op.id, data: { from: active, to: site.name, trigger: 'manual', force, forcedPast } } as const;
  const r = await ctx.control.requestOperation(op, { log: ctx.audit, entry });
  if (!r.ok) throw new HttpError(409, `another switchover (${r.operationId}) is ${r.blockedBy === 'intent' ? 'waiting' : 'running'} for ${p.id}`, undefined, { operationId: r.operationId });
  await ctx.audit.trimFrom(r.auditId);
  res.status(202).location(`/api/v1/operations/${op.id}`).json(r.operation);
}

async function freeze(ctx: ApiContext, req: Request, res: Response): Promise<void> {
  const p = portalOr404(ctx, String(req.params.id));
  const body = parseOr400(S.FreezeBody, req.body, 'body');
  const caller = callerOf(res);
  const now = ctx.now();
  const until = body.until !== undefined ? Date.parse(body.until) : undefined;
  if (until !== undefined && until <= now) throw new HttpError(400, 'invalid body', [{ path: 'until', message: 'must be in the future' }]);
  const f = { reason: body.reason, actor: caller.name, at: now, until };
  await ctx.control.freeze(p.id, f);
  await ctx.audit.append({ type: 'freeze', portal: p.id, actor: caller.name, client: caller.client, reason: body.reason, data: { until: body.until } });
  res.json({ portal: p.id, frozen: f });
}

async function unfreeze(ctx: ApiContext, req: Request, res: Response): Promise<void> {
  const p = portalOr404(ctx, String(req.params.id));
  const body = parseOr400(S.UnfreezeBody, req.body, 'body');
  const caller = callerOf(res);
  const was = await ctx.control.unfreeze(p.id);
  await ctx.audit.append({ type: 'unfreeze', portal: p.id, actor: caller.name, client: caller.client, reason: body.reason, data: { wasFrozen: was !== undefined, freeze: was } });
  res.json({ portal: p.id, frozen: null });
}

async function acknowledge(ctx: ApiContext, req: Request, res: Response): Promise<void> {
  const p = portalOr404(ctx, String(req.params.id));
  const body = parseOr400(S.AckBody, req.body, 'body');
  const caller = callerOf(res);
  const ack = { at: ctx.now(), actor: caller.name, reason: body.reason };
  await ctx.control.acknowledge(p.id, ack);
  const state = await ctx.store.loadState(p.id);
  await ctx.audit.append({ type: 'ack', portal: p.id, actor: caller.name, client: caller.client, reason: body.reason, data: { cooldownStartedAt: state?.cooldownStartedAt } });
  res.json({ portal: p.id, acknowledged: ack });
}

/** Free text from an alert (its summary) is cut to this many characters in the reason it leaves in the audit. */
const ALERT_TEXT_MAX = 300;

function cut(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}… [truncated ${text.length - max} characters]`;
}

async function alertmanager(ctx: ApiContext, req: Request, res: Response): Promise<void> {
  const body = parseOr400(S.AlertmanagerBody, req.body, 'body');
  const caller = callerOf(res);
  const actor = `alertmanager(${caller.name})`;
  const results: z.infer<typeof S.AlertmanagerResponse>['results'] = [];
  // One read of each portal's state per notification (a group may hold 1000 alerts for one portal), dropped once
  // an alert of it asked for an operation.
  const views = new Map<string, Promise<{ state: PreconditionState }>>();
  // And one run of the runbook checks per portal, target and expected site: the labels that change the request.
  const reports = new Map<string, ReturnType<typeof preconditions>>();
  const viewOf = (p: PortalConfig, model: PortalModel) => {
    let v = views.get(p.id);
    if (!v) views.set(p.id, (v = preconditionView(ctx, p, model)));
    return v;
  };
  for (const a of body.alerts) {
    const name = a.labels.alertname ?? a.fingerprint ?? 'alert';
    const portalId = a.labels.portal;
    if (a.labels.failover_action !== 'switchover') {
      results.push({ alert: name, portal: portalId, outcome: 'ignored', detail: 'not labelled failover_action=switchover' });
      continue;
    }
    if (a.status !== 'firing') {
      results.push({ alert: name, portal: portalId, outcome: 'ignored', detail: 'resolved alerts never switch' });
      continue;
    }
    const p = ctx.config.portals.find((x) => x.id === portalId);
    if (!p) {
      results.push({ alert: name, portal: portalId, outcome: 'ignored', detail: portalId ? `unknown portal "${cut(portalId, 100)}"` : 'no portal label' });
      continue;
    }
    const model = portalModel(p);
    const { state } = await viewOf(p, model);
    const request = { operationId: '', trigger: 'alert' as const, to: a.labels.to, expectFrom: a.labels.site, force: false };
    const reportKey = JSON.stringify([p.id, a.labels.to, a.labels.site]);
    let report = reports.get(reportKey);
    if (!report) reports.set(reportKey, (report = preconditions(state, model, request, ctx.now())));
    const active = report.from;
    const busy = state.inflight?.operationId ?? state.waiting;
    if (busy) {
      results.push({ alert: name, portal: p.id, outcome: 'duplicate', detail: `operation ${busy} already handles this portal`, operationId: busy });
      continue;
    }
    // The target's health and readiness are judged by the leader when it takes the request (admitSwitch runs the same checks):
    // an alert is answered at once, and a standby briefly without fresh results must not drop it here.
    const blocked = report.blocking.find((c) => c.check !== 'target healthy by quorum' && c.check !== 'target ready')?.detail;
    if (blocked) {
      results.push({ alert: name, portal: p.id, outcome: 'blocked', detail: blocked });
      // Counted, not appended one by one: a sender repeating a blocked alert (with fresh names and labels each time)
      // adds one entry per window, portal and reason, holding the name and labels of the first.
      ctx.repeats.note(`blocked|${p.id}|${actor}|${caller.client}|${blocked}`, {
        type: 'alert.received',
        portal: p.id,
        actor,
        client: caller.client,
        reason: name,
        data: { outcome: 'blocked', detail: blocked, labels: a.labels },
      });
      continue;
    }
    const summary = a.annotations?.summary ?? a.annotations?.description;
    const op = switchIntent(p, {
      to: a.labels.to,
      from: active,
      trigger: 'alert',
      reason: cut(`alert ${name}${summary ? `: ${summary}` : ''}`, ALERT_TEXT_MAX),
      actor,
      client: caller.client,
      force: false,
      expectFrom: a.labels.site,
      now: ctx.now(),
    });
    views.delete(p.id);
    reports.clear();
    const entry = { type: 'alert.received', portal: p.id, actor: op.actor, client: caller.client, reason: op.reason, operation: op.id, data: { outcome: 'started', labels: a.labels } } as const;
    const r = await ctx.control.requestOperation(op, { log: ctx.audit, entry });
    if (!r.ok) {
      results.push({ alert: name, portal: p.id, outcome: 'duplicate', detail: `operation ${r.operationId} already handles this portal`, operationId: r.operationId });
      continue;
    }
    await ctx.audit.trimFrom(r.auditId);
    results.push({ alert: name, portal: p.id, outcome: 'started', detail: `switchover requested away from ${active}`, operationId: op.id });
  }
  res.json({ results });
}

async function reloadTokenFile(ctx: ApiContext, req: Request, res: Response): Promise<void> {
  const body = parseOr400(S.TokenReloadBody, req.body, 'body');
  const caller = callerOf(res);
  const r = await reloadTokensAudited(ctx, body.reason, caller.name, caller.client);
  res.status(r.ok ? 200 : 422).json({ ...r, file: ctx.tokens.fileStatus() });
}

export function routes(): RouteDef[] {
  const err = (description: string) => ({ description, schema: S.ErrorResponse });
  const common = { 401: err('missing or unknown token'), 403: err('role too low') };
  return [
    {
      method: 'get',
      path: '/healthz',
      summary: 'Liveness: the process answers',
      responses: { 200: { description: 'alive', schema: S.HealthResponse } },
      handler: async (_ctx, _req, res) => void res.json({ status: 'ok' }),
    },
    {
      method: 'get',
      path: '/readyz',
      summary: 'Readiness: Redis answers',
      responses: { 200: { description: 'ready', schema: S.HealthResponse }, 503: { description: 'Redis unreachable', schema: S.HealthResponse } },
      handler: async (ctx, _req, res) => {
        // Bounded: a paused Redis must not make the readiness probe itself time out.
        const p = await probeRedis(ctx.redis, READY_TIMEOUT_MS);
        if (p.up) res.json({ status: 'ready' });
        else res.status(503).json({ status: 'not ready', error: `redis: ${p.reason}` });
      },
    },
    {
      method: 'get',
      path: '/metrics',
      summary: 'Prometheus metrics (text exposition format)',
      responses: { 200: { description: 'metrics' } },
      handler: (ctx, _req, res) => sendMetrics(ctx.metrics, res),
    },
    {
      method: 'get',
      path: '/api/v1/openapi.json',
      summary: 'This API as an OpenAPI 3 document',
      responses: { 200: { description: 'OpenAPI document' } },
      handler: async () => undefined, // replaced in app.ts, which owns the document
    },
    {
      method: 'get',
      path: '/status',
      summary: 'Public status page (text/html, no token): state in plain words (?lang=vi|en), provider serving now, availability, incidents, maintenance, last drill',
      responses: { 200: { description: 'the page (text/html)' }, 404: err('status page disabled') },
      handler: statusHtml,
    },
    {
      method: 'get',
      path: '/status.json',
      summary: 'The public status page as JSON (no token): never check URLs, addresses, tokens or secrets',
      responses: { 200: { description: 'public status document' }, 404: err('status page disabled') },
      handler: statusJson,
    },
    {
      method: 'get',
      path: '/api/v1/portals',
      role: 'viewer',
      summary: 'Every portal with its active site, phase, health per site and vantage, freeze, cooldown and last operation',
      responses: { 200: { description: 'portals', schema: S.PortalListResponse }, ...common },
      handler: async (ctx, _req, res) => void res.json({ portals: await mapInLanes(ctx.config.portals, PORTAL_READ_LANES, (p) => portalView(ctx, p)) }),
    },
    {
      method: 'get',
      path: '/api/v1/portals/:id',
      role: 'viewer',
      summary: 'One portal',
      responses: { 200: { description: 'portal', schema: S.PortalResponse }, ...common, 404: err('unknown portal') },
      handler: async (ctx, req, res) => void res.json(await portalView(ctx, portalOr404(ctx, String(req.params.id)))),
    },
    {
      method: 'post',
      path: '/api/v1/portals/:id/switchover',
      role: 'operator',
      mutates: true,
      summary: 'Ask for a switchover (runbook preconditions unless force); dryRun returns the exact plan instead',
      body: S.SwitchoverBody,
      responses: {
        200: { description: 'dry-run plan', schema: S.DryRunResponse },
        202: { description: 'operation accepted; the leader controller executes it', schema: S.OperationResponse },
        400: err('invalid body'),
        ...common,
        404: err('unknown portal'),
        409: err('a precondition failed or another operation is running'),
      },
      handler: switchover,
    },
    {
      method: 'post',
      path: '/api/v1/portals/:id/freeze',
      role: 'operator',
      mutates: true,
      summary: 'Pause automatic switching for a portal, optionally until a time',
      body: S.FreezeBody,
      responses: { 200: { description: 'frozen', schema: S.FreezeResponse }, 400: err('invalid body'), ...common, 404: err('unknown portal') },
      handler: freeze,
    },
    {
      method: 'post',
      path: '/api/v1/portals/:id/unfreeze',
      role: 'operator',
      mutates: true,
      summary: 'Resume automatic switching',
      body: S.UnfreezeBody,
      responses: { 200: { description: 'unfrozen', schema: S.FreezeResponse }, 400: err('invalid body'), ...common, 404: err('unknown portal') },
      handler: unfreeze,
    },
    {
      method: 'delete',
      path: '/api/v1/portals/:id/freeze',
      role: 'operator',
      mutates: true,
      summary: 'Resume automatic switching (deprecated: a DELETE with a body is dropped by some proxies)',
      deprecated: 'Use POST /api/v1/portals/{id}/unfreeze; this DELETE keeps working for existing clients.',
      body: S.UnfreezeBody,
      responses: { 200: { description: 'unfrozen', schema: S.FreezeResponse }, 400: err('invalid body'), ...common, 404: err('unknown portal') },
      handler: async (ctx, req, res) => {
        res.setHeader('Deprecation', 'true');
        res.setHeader('Link', `</api/v1/portals/${encodeURIComponent(String(req.params.id))}/unfreeze>; rel="successor-version"`);
        await unfreeze(ctx, req, res);
      },
    },
    {
      method: 'get',
      path: '/api/v1/portals/:id/risk-windows',
      role: 'viewer',
      summary: 'Announced cuts of a portal (config and API), with phase, times in their own zone and in UTC, and whether the TTLs are lowered',
      responses: { 200: { description: 'risk windows', schema: RiskWindowListResponse }, ...common, 404: err('unknown portal') },
      handler: (ctx, req, res) => listRiskWindows(ctx, portalOr404(ctx, String(req.params.id)), res),
    },
    {
      method: 'post',
      path: '/api/v1/portals/:id/risk-windows',
      role: 'operator',
      mutates: true,
      summary: 'Announce a cut: from start − leadTime the leader lowers every DNS step\'s TTL to lowerTtlTo and re-verifies the standby; after the window it restores the TTLs',
      body: RiskWindowBody,
      responses: {
        201: { description: 'announced', schema: RiskWindowResponse },
        400: err('invalid body: no zone in start, in the past, lowerTtlTo above a DNS step\'s TTL, no DNS step'),
        ...common,
        404: err('unknown portal'),
        409: err('a window with this name exists (in the config file or announced)'),
      },
      handler: (ctx, req, res) => addRiskWindow(ctx, portalOr404(ctx, String(req.params.id)), req, res),
    },
    {
      method: 'delete',
      path: '/api/v1/portals/:id/risk-windows/:name',
      role: 'operator',
      mutates: true,
      summary: 'Withdraw an announced window; if its TTLs were lowered, the leader restores them',
      body: RiskWindowDeleteBody,
      responses: { 200: { description: 'withdrawn', schema: RiskWindowResponse }, 400: err('invalid body'), ...common, 404: err('unknown portal or window'), 409: err('the window is in the config file') },
      handler: (ctx, req, res) => removeRiskWindow(ctx, portalOr404(ctx, String(req.params.id)), req, res),
    },
    {
      method: 'post',
      path: '/api/v1/portals/:id/ack',
      role: 'operator',
      mutates: true,
      summary: 'Acknowledge the last automatic switch, lifting the anti-flap cooldown',
      body: S.AckBody,
      responses: { 200: { description: 'acknowledged', schema: S.AckResponse }, 400: err('invalid body'), ...common, 404: err('unknown portal') },
      handler: acknowledge,
    },
    {
      method: 'get',
      path: '/api/v1/portals/:id/operations',
      role: 'viewer',
      summary: 'Operations of a portal, newest first, paged (pass `next` back as `cursor`)',
      query: S.OperationsQuery,
      responses: { 200: { description: 'operations', schema: S.OperationListResponse }, 400: err('invalid query'), ...common, 404: err('unknown portal') },
      handler: async (ctx, req, res) => {
        const p = portalOr404(ctx, String(req.params.id));
        const q = parseOr400(S.OperationsQuery, req.query, 'query');
        res.json(await operationsPage(ctx.redis, ctx.config.redis.prefix, p.id, q.limit ?? 20, q.cursor));
      },
    },
    {
      method: 'get',
      path: '/api/v1/operations/:id',
      role: 'viewer',
      summary: 'One operation with its steps, evidence and timings',
      responses: { 200: { description: 'operation', schema: S.OperationResponse }, ...common, 404: err('unknown operation') },
      handler: async (ctx, req, res) => {
        const id = String(req.params.id);
        const op = /^[a-z0-9_.-]{1,200}$/.test(id) ? await ctx.store.loadOperation(id) : undefined;
        if (!op) throw new HttpError(404, `unknown operation "${id.slice(0, 200)}"`);
        res.json(op);
      },
    },
    {
      method: 'get',
      path: '/api/v1/audit',
      role: 'viewer',
      summary: 'Audit log, oldest first, filtered and paged (pass `next` back as `cursor`)',
      query: S.AuditQuery,
      responses: { 200: { description: 'entries', schema: S.AuditResponse }, 400: err('invalid query'), ...common, 404: err('unknown portal') },
      handler: async (ctx, req, res) => {
        const q = parseOr400(S.AuditQuery, req.query, 'query');
        if (q.portal !== undefined) portalOr404(ctx, q.portal);
        try {
          res.json(await ctx.audit.query({ portal: q.portal, type: q.type, since: instant(q.since), until: instant(q.until), after: q.cursor, limit: q.limit }));
        } catch (e) {
          // Redis refuses ids outside its 64-bit range (a forged cursor, a date it cannot represent): input, not a fault.
          if (/stream id|invalid/i.test((e as Error).message)) throw new HttpError(400, 'invalid query', [{ path: q.cursor ? 'cursor' : 'since', message: 'is outside the range of audit entry ids' }]);
          throw e;
        }
      },
    },
    {
      method: 'get',
      path: '/api/v1/operations/:id/evidence',
      role: 'viewer',
      summary: 'Evidence bundle of an operation: decision, probes around the cut, captures of the failing response, steps, actors, audit entries and a manifest of SHA-256s',
      responses: { 200: { description: 'the bundle: file name -> text', schema: S.EvidenceResponse }, ...common, 404: err('unknown operation') },
      handler: async (ctx, req, res) => {
        const id = String(req.params.id);
        const op = /^[a-z0-9_.-]{1,200}$/.test(id) ? await ctx.store.loadOperation(id) : undefined;
        if (!op) throw new HttpError(404, `unknown operation "${id.slice(0, 200)}"`);
        res.json(await buildEvidenceBundle(ctx.config, ctx.redis, ctx.audit, op, ctx.now()));
      },
    },
    {
      method: 'get',
      path: '/api/v1/audit/verify',
      role: 'viewer',
      summary: 'Verify the audit hash chain: ok with "N entries, chain intact, head <hash>", or ok: false naming the first entry where it breaks',
      query: S.AuditVerifyQuery,
      responses: { 200: { description: 'the verdict (ok: true or false)', schema: S.AuditVerifyResponse }, 400: err('invalid query'), ...common },
      handler: async (ctx, req, res) => {
        const q = parseOr400(S.AuditVerifyQuery, req.query, 'query');
        const r = await ctx.audit.verify(q.seq !== undefined && q.hash !== undefined ? { seq: q.seq, hash: q.hash } : undefined);
        res.json(r);
      },
    },
    {
      method: 'post',
      path: '/api/v1/hooks/alertmanager',
      role: 'automation',
      mutates: true,
      summary: 'Alertmanager webhook (payload v4): firing alerts labelled portal and failover_action=switchover start a switch',
      body: S.AlertmanagerBody,
      bodyLimit: '1mb',
      responses: { 200: { description: 'what each alert did', schema: S.AlertmanagerResponse }, 400: err('invalid payload'), ...common },
      handler: alertmanager,
    },
    {
      method: 'get',
      path: '/api/v1/tokens',
      role: 'admin',
      summary: 'Every API token by name, role, source (config or token file) and expiry, never its hash; and the token file\'s last load',
      responses: { 200: { description: 'tokens', schema: S.TokenListResponse }, ...common },
      handler: async (ctx, _req, res) => void res.json({ tokens: ctx.tokens.list(), ...(ctx.tokens.fileStatus() ? { file: ctx.tokens.fileStatus() } : {}) }),
    },
    {
      method: 'post',
      path: '/api/v1/tokens/reload',
      role: 'admin',
      mutates: true,
      summary: 'Re-read api.tokenFile now (it is also re-read when it changes and on SIGHUP; without one nothing changes: config tokens change with the config); a file that does not parse is refused and the previous tokens stay',
      body: S.TokenReloadBody,
      responses: {
        200: { description: 'reloaded: the token names added, removed and changed', schema: S.TokenReloadResponse },
        400: err('invalid body'),
        ...common,
        422: { description: 'the file does not parse; nothing changed', schema: S.TokenReloadResponse },
      },
      handler: reloadTokenFile,
    },
    {
      method: 'get',
      path: '/admin/queues',
      role: 'viewer',
      summary:
        'Queue board for operators (bull-board; text/html): the results and checks-<vantage> BullMQ queues, read-only for every role. ' +
        'Its assets and JSON API live under /admin/queues/ and need the same token; a browser reaches it through a reverse proxy that adds ' +
        'the Authorization header (a token in the query string is never accepted)',
      responses: { 200: { description: 'the board page (text/html)' }, ...common },
      // app.ts mounts bull-board at this path ahead of the route table (queues.ts), so this is reached only if it
      // is not mounted.
      handler: async (_ctx, _req, res) => sendProblem(res, 404, 'the queue board is not mounted'),
    },
  ];
}

export type { Caller };
