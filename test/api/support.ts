import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { Express } from 'express';
import type { Redis } from 'ioredis';
import request from 'supertest';
import type { z } from 'zod';
import { createMetrics, createRedis, parseConfig, type AuditEntry, type Config } from '@portal-failover/shared';
import { createApp } from '@portal-failover/api';
import type { Role } from '../../services/api/src/auth';
import { hashToken } from '../../services/api/src/auth';
import type { RouteDef } from '../../services/api/src/routes';
import type * as S from '../../services/api/src/schemas';
import { startAllInOne, type AllInOne } from '../../cli/src/all-in-one';
import { e2eRawConfig, portalFixture, testLogger, type ConfigOptions, type PortalFixture } from '../support/e2e';
import { sharedPowerDns } from '../support/powerdns-server';
import { startRecordingProxy } from '../support/recording-proxy';
import { waitFor } from '../support/free-port';

/** The response shapes the API documents, as TypeScript types (the zod schemas are the source of truth). */
export type OperationBody = z.infer<typeof S.OperationResponse>;
export type PortalBody = z.infer<typeof S.PortalResponse>;
export type DryRunBody = z.infer<typeof S.DryRunResponse>;
export type AuditBody = z.infer<typeof S.AuditResponse>;
export type ErrorBody = z.infer<typeof S.ErrorResponse>;
export type AlertmanagerResultBody = z.infer<typeof S.AlertmanagerResponse>;

export const ROLE_ORDER: readonly Role[] = ['viewer', 'automation', 'operator', 'admin'];

/** One token per role; fresh random values per test file, so a leak of one is recognisable anywhere. */
export const TOKENS: Record<Role, string> = {
  viewer: `pf_view_${randomBytes(18).toString('base64url')}`,
  automation: `pf_auto_${randomBytes(18).toString('base64url')}`,
  operator: `pf_oper_${randomBytes(18).toString('base64url')}`,
  admin: `pf_admn_${randomBytes(18).toString('base64url')}`,
};

/** Token names as they appear in audit entries (`actor`). */
export const TOKEN_NAMES: Record<Role, string> = { viewer: 'vera-viewer', automation: 'alma-alertmanager', operator: 'olga-operator', admin: 'adam-admin' };

export function bearer(role: Role): string {
  return `Bearer ${TOKENS[role]}`;
}

export function secretValues(): string[] {
  return [...Object.values(TOKENS), sharedPowerDns().apiKey];
}

/** e2eRawConfig plus API tokens (stored hashed) and a rate limit high enough for fuzzing. */
export function apiRawConfig(portals: PortalFixture[], o: ConfigOptions & { rateLimitMax?: number } = {}): Record<string, unknown> {
  const raw = e2eRawConfig(portals, o);
  raw.api = {
    listen: '127.0.0.1:0',
    tokens: ROLE_ORDER.map((role) => ({ name: TOKEN_NAMES[role], role, sha256: hashToken(TOKENS[role]) })),
    rateLimit: { max: o.rateLimitMax ?? 100000 },
  };
  return raw;
}

export function apiConfig(portals: PortalFixture[], o: ConfigOptions & { rateLimitMax?: number } = {}): Config {
  const { REDIS_URL: _ignored, ...env } = process.env;
  return parseConfig(apiRawConfig(portals, o), 'api-test', env);
}

/** The real Express app on the real Redis, listening on loopback (one server for many supertest calls). */
export interface ApiHarness {
  config: Config;
  app: Express;
  server: Server;
  redis: Redis;
  close(): Promise<void>;
}

export async function startApiHarness(config: Config): Promise<ApiHarness> {
  const redis = createRedis(config.redis, 'command');
  const app = createApp({ config, redis, metrics: createMetrics(undefined, { defaultMetrics: false }) });
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  return {
    config,
    app,
    server,
    redis,
    close: async () => {
      await new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      });
      await redis.quit();
    },
  };
}

/** The whole product in one process (checker, controller, API) with a recording proxy in front of PowerDNS. */
export interface Stack {
  fixtures: PortalFixture[];
  config: Config;
  app: AllInOne;
  proxy: Awaited<ReturnType<typeof startRecordingProxy>>;
  /** Redis connection of the test itself (reads the audit stream raw). */
  redis: Redis;
  api(): ReturnType<typeof request>;
  close(): Promise<void>;
}

export async function startStack(ids: string[], o: ConfigOptions & { rateLimitMax?: number } = {}): Promise<Stack> {
  const proxy = await startRecordingProxy(sharedPowerDns().apiUrl);
  const fixtures = await Promise.all(ids.map((id) => portalFixture(id)));
  const { REDIS_URL: _ignored, ...env } = process.env;
  const config = parseConfig(apiRawConfig(fixtures, { apiUrl: proxy.url, ...o }), 'api-stack-test', env);
  const app = await startAllInOne(config, testLogger(), createMetrics(undefined, { defaultMetrics: false }));
  const redis = createRedis(config.redis, 'command');
  return {
    fixtures,
    config,
    app,
    proxy,
    redis,
    api: () => request(app.apiUrl),
    close: async () => {
      await app.stop();
      await redis.quit();
      await Promise.all(fixtures.flatMap((p) => [p.primary.close(), p.standby.close()]));
      await proxy.close();
    },
  };
}

/** Path of a route with its parameters filled in. */
export function fillPath(def: Pick<RouteDef, 'path'>, params: Record<string, string>): string {
  return def.path.replace(/:([A-Za-z]+)/g, (_m, name: string) => encodeURIComponent(params[name] ?? `unknown-${name}`));
}

/** supertest's body is untyped: every read goes through here, typed by what the API documents. */
export function bodyOf<T>(res: { body: unknown }): T {
  return res.body as T;
}

export async function getPortal(api: () => ReturnType<typeof request>, id: string): Promise<PortalBody> {
  const res = await api().get(`/api/v1/portals/${id}`).set('Authorization', bearer('viewer'));
  if (res.status !== 200) throw new Error(`GET portal ${id}: ${res.status} ${res.text}`);
  return bodyOf<PortalBody>(res);
}

export async function getOperation(api: () => ReturnType<typeof request>, id: string): Promise<OperationBody> {
  const res = await api().get(`/api/v1/operations/${id}`).set('Authorization', bearer('viewer'));
  if (res.status !== 200) throw new Error(`GET operation ${id}: ${res.status} ${res.text}`);
  return bodyOf<OperationBody>(res);
}

export async function listOperations(api: () => ReturnType<typeof request>, portal: string): Promise<OperationBody[]> {
  const res = await api().get(`/api/v1/portals/${portal}/operations`).query({ limit: 200 }).set('Authorization', bearer('viewer'));
  if (res.status !== 200) throw new Error(`GET operations of ${portal}: ${res.status} ${res.text}`);
  return bodyOf<{ operations: OperationBody[] }>(res).operations;
}

/** Waits until the operation reached a final status and returns it. */
export async function waitForOperation(api: () => ReturnType<typeof request>, id: string, timeoutMs = 20_000): Promise<OperationBody> {
  return waitFor(
    async () => {
      const op = await getOperation(api, id);
      return op.status === 'succeeded' || op.status === 'failed' || op.status === 'rejected' ? op : undefined;
    },
    { timeoutMs, intervalMs: 100, what: `operation ${id} finished` },
  );
}

export async function waitForSiteStatus(
  api: () => ReturnType<typeof request>,
  portal: string,
  site: string,
  status: 'up' | 'down',
  timeoutMs = 20_000,
): Promise<PortalBody> {
  return waitFor(
    async () => {
      const v = await getPortal(api, portal);
      return v.sites.find((s) => s.name === site)?.status === status ? v : undefined;
    },
    { timeoutMs, intervalMs: 100, what: `${portal}: portal view says ${site} is ${status}` },
  );
}

/** Every audit entry, paged through the API with the given page size. */
export async function auditPages(api: () => ReturnType<typeof request>, query: Record<string, string | number>, limit: number): Promise<{ entries: AuditEntry[]; pages: number }> {
  const entries: AuditEntry[] = [];
  let cursor: string | undefined;
  let pages = 0;
  for (;;) {
    const res = await api()
      .get('/api/v1/audit')
      .query({ ...query, limit, ...(cursor ? { cursor } : {}) })
      .set('Authorization', bearer('viewer'));
    if (res.status !== 200) throw new Error(`GET audit: ${res.status} ${res.text}`);
    const page = bodyOf<{ entries: AuditEntry[]; next?: string }>(res);
    pages++;
    expect(page.entries.length).toBeLessThanOrEqual(limit);
    entries.push(...page.entries);
    if (!page.next) return { entries, pages };
    cursor = page.next;
    if (pages > 1000) throw new Error('audit paging does not end');
  }
}

/** The audit stream as stored in Redis, unfiltered: what an export or a Redis dump would show. */
export async function rawAudit(redis: Redis, prefix: string): Promise<string> {
  const all = await redis.xrange(`${prefix}:audit`, '-', '+');
  return all.map(([id, fields]) => `${id} ${fields.join(' ')}`).join('\n');
}

/** Every string value under the prefix (state, operations, intents, freezes): none may hold a secret. */
export async function rawKeyspace(redis: Redis, prefix: string): Promise<string> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
    cursor = next;
    for (const k of keys) {
      const type = await redis.type(k);
      if (type === 'string') out.push(`${k}=${(await redis.get(k)) ?? ''}`);
      else if (type === 'zset') out.push(`${k}=${(await redis.zrange(k, '0', '-1')).join(',')}`);
      else if (type === 'hash') out.push(`${k}=${JSON.stringify(await redis.hgetall(k))}`);
      else if (type === 'list') out.push(`${k}=${(await redis.lrange(k, 0, -1)).join(',')}`);
      else if (type === 'stream') out.push(`${k}=${JSON.stringify(await redis.xrange(k, '-', '+'))}`);
    }
  } while (cursor !== '0');
  return out.join('\n');
}

export function expectNoSecrets(text: string, where: string): void {
  for (const s of secretValues()) {
    if (text.includes(s)) throw new Error(`${where} contains a secret (${s.slice(0, 8)}…)`);
  }
}

/** A v4 Alertmanager webhook payload. */
export function alertPayload(alerts: { status: 'firing' | 'resolved'; labels: Record<string, string>; annotations?: Record<string, string> }[]) {
  const status = alerts.some((a) => a.status === 'firing') ? 'firing' : 'resolved';
  return {
    version: '4',
    groupKey: '{}:{alertname="PortalDown"}',
    truncatedAlerts: 0,
    status,
    receiver: 'portal-failover',
    groupLabels: { alertname: alerts[0]?.labels.alertname ?? 'PortalDown' },
    commonLabels: {},
    commonAnnotations: {},
    externalURL: 'http://alertmanager.example:9093',
    alerts: alerts.map((a, i) => ({
      status: a.status,
      labels: a.labels,
      annotations: a.annotations ?? {},
      startsAt: new Date(Date.now() - 60_000).toISOString(),
      endsAt: a.status === 'resolved' ? new Date().toISOString() : '0001-01-01T00:00:00Z',
      generatorURL: 'http://prometheus.example:9090/graph',
      fingerprint: `f${i}${randomBytes(4).toString('hex')}`,
    })),
  };
}
