import { createHash, timingSafeEqual } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Redis } from 'ioredis';
import { keys, portalModel, siteStatus, StateStore, type Config, type Metrics } from '@portal-failover/shared';

export interface ApiOptions {
  config: Config;
  redis: Redis;
  metrics: Metrics;
  now?: () => number;
}

type Role = 'viewer' | 'operator' | 'admin';
const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

/** Tokens are stored as SHA-256 hashes and compared in constant time. */
function authenticate(config: Config, header: string | undefined): { name: string; role: Role } | undefined {
  const m = /^Bearer\s+(\S+)$/i.exec(header ?? '');
  if (!m) return undefined;
  const digest = createHash('sha256').update(m[1]).digest();
  return config.api.tokens.find((t) => timingSafeEqual(Buffer.from(t.sha256, 'hex'), digest));
}

function requireRole(config: Config, role: Role) {
  return (req: Request, res: Response, next: NextFunction) => {
    const who = authenticate(config, req.header('authorization'));
    if (!who) return void res.status(401).json({ error: 'missing or unknown bearer token' });
    if (RANK[who.role] < RANK[role]) return void res.status(403).json({ error: `needs role ${role}` });
    next();
  };
}

export function createApp(opts: ApiOptions): express.Express {
  const { config, redis, metrics } = opts;
  const now = opts.now ?? Date.now;
  const store = new StateStore(redis, keys(config.redis.prefix));
  const app = express();
  app.disable('x-powered-by');

  app.get('/healthz', (_req, res) => void res.json({ status: 'ok' }));
  app.get('/readyz', async (_req, res) => {
    try {
      await redis.ping();
      res.json({ status: 'ready' });
    } catch (err) {
      res.status(503).json({ status: 'not ready', error: `redis: ${(err as Error).message}` });
    }
  });
  app.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  const view = async (id: string) => {
    const p = config.portals.find((x) => x.id === id);
    if (!p) return undefined;
    const model = portalModel(p);
    const state = await store.loadState(id);
    const t = now();
    return {
      id: p.id,
      name: p.name,
      activeSite: state?.activeSite ?? p.sites[0].name,
      phase: state?.phase ?? 'no_data',
      reason: state?.lastReason ?? 'no controller has reported yet',
      frozen: state?.frozen ?? null,
      cooldown: state?.lastAutoSwitchAt
        ? { lastAutoSwitchAt: new Date(state.lastAutoSwitchAt).toISOString(), until: new Date(state.lastAutoSwitchAt + model.policy.cooldownMs).toISOString() }
        : null,
      operationInFlight: state?.inflight ?? null,
      sites: model.sites.map((s) => {
        const st = siteStatus(state?.health ?? {}, s.name, s.checkNames, model.policy, t);
        return { name: s.name, status: st.status, vantages: st.vantages };
      }),
      lastOperation: (await store.recentOperations(id, 1))[0] ?? null,
    };
  };

  const viewer = requireRole(config, 'viewer');
  app.get('/api/v1/portals', viewer, async (_req, res) => {
    res.json({ portals: await Promise.all(config.portals.map((p) => view(p.id))) });
  });
  app.get('/api/v1/portals/:id', viewer, async (req, res) => {
    const v = await view(String(req.params.id));
    if (!v) return void res.status(404).json({ error: `unknown portal "${String(req.params.id)}"` });
    res.json(v);
  });
  app.get('/api/v1/operations/:id', viewer, async (req, res) => {
    const op = await store.loadOperation(String(req.params.id));
    if (!op) return void res.status(404).json({ error: 'unknown operation' });
    res.json(op);
  });

  app.use((_req, res) => void res.status(404).json({ error: 'not found' }));
  app.use((err: Error, _req: Request, res: Response, _next: NextFunction) => {
    res.status(500).json({ error: 'internal error', detail: err.message });
  });
  return app;
}
