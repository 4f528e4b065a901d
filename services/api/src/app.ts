import express, { type NextFunction, type Request, type Response } from 'express';
import rateLimit from 'express-rate-limit';
import helmet from 'helmet';
import type { Redis } from 'ioredis';
import { unwatchFile, watchFile } from 'node:fs';
import { attachRedisUpMetric, createLogger, type Config, type Logger, type Metrics } from '@portal-failover/shared';
import { clientOf, requireRole, TokenRegistry, type Refusal } from './auth';
import { createContext, type ApiContext } from './context';
import { HttpError } from './http-errors';
import { idempotency } from './idempotency';
import { openApiDocument } from './openapi';
import { attachRedisMemoryMetrics } from './redis-memory';
import { sendProblem } from './problem';
import { QUEUE_BOARD_PATH, queueSupport } from './queues';
import { routes } from './routes';
import { reloadTokensAudited } from './token-reload';

export interface ApiOptions {
  config: Config;
  redis: Redis;
  metrics: Metrics;
  now?: () => number;
  /** For the queue metrics' and board's warnings; a default logger otherwise. */
  logger?: Logger;
}

const BODY_LIMIT = '16kb';

/** How often the token file's status is polled: stat follows symlinks, so a Kubernetes Secret update is seen too. */
const TOKEN_FILE_POLL_MS = 1000;

/** JSON only: a body with any other content type is refused before parsing, with the reason. */
function jsonOnly(req: Request, _res: Response, next: NextFunction): void {
  const hasBody = Number(req.header('content-length') ?? 0) > 0 || req.header('transfer-encoding') !== undefined;
  if (hasBody && !req.is('application/json')) {
    return next(new HttpError(400, 'invalid body', [{ path: '(body)', message: 'must be JSON with Content-Type: application/json' }]));
  }
  next();
}

/** What createApp opened beside the routes (queue handles, the queue metrics collector), closed by closeApp. */
const closers = new WeakMap<express.Express, () => Promise<void>>();
const contexts = new WeakMap<express.Express, ApiContext>();

/** Re-reads the token file now (SIGHUP, the admin route, the file watcher), audited as `tokens.reloaded`. */
export async function reloadTokens(app: express.Express, why: string, actor = 'api'): Promise<ReturnType<TokenRegistry['reload']>> {
  const ctx = contexts.get(app);
  if (!ctx) throw new Error('reloadTokens: not an app made by createApp');
  return reloadTokensAudited(ctx, why, actor);
}

/** Releases what createApp opened; the Redis connection stays the caller's. */
export async function closeApp(app: express.Express): Promise<void> {
  const close = closers.get(app);
  closers.delete(app);
  await close?.();
}

export function createApp(opts: ApiOptions): express.Express {
  const now = opts.now ?? Date.now;
  const log = (opts.logger ?? createLogger({ silent: true })).child({ component: 'api' });
  const tokens = new TokenRegistry(opts.config.api.tokens, opts.config.api.tokenFile, now);
  const ctx = createContext(opts.config, opts.redis, opts.metrics, tokens, now, (e) => log.warn(`audit write failed: ${e.message}`));
  const onRefusal = (r: Refusal) =>
    ctx.repeats.note(`denied|${r.status}|${r.actor}|${r.client}|${r.method}|${r.route}|${r.reason}`, {
      type: 'api.denied',
      actor: r.actor,
      client: r.client,
      reason: r.reason,
      data: { status: r.status, method: r.method, route: r.route },
    });
  const defs = routes();
  const doc = openApiDocument(defs, '1.0.0');
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', opts.config.api.trustProxy);
  app.use(helmet());

  const limiter = rateLimit({
    windowMs: opts.config.api.rateLimit.window,
    limit: opts.config.api.rateLimit.max,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    // Per known token (an on-call team behind one NAT is several people), otherwise per address: made-up tokens
    // must share their sender's bucket, or guessing would be unlimited.
    keyGenerator: (req) => {
      const rec = tokens.authenticate(req.header('authorization'));
      return rec ? `t:${rec.name}` : `ip:${clientOf(req)}`;
    },
    handler: (_req, res) => sendProblem(res, 429, 'too many requests; slow down'),
  });
  app.use('/api/', limiter);

  // Queue board for operators (read-only, viewer and up) and the queue metrics on /metrics: see queues.ts. Mounted
  // before the route table, whose GET /admin/queues entry documents it.
  const queues = queueSupport(opts);
  attachRedisUpMetric(opts.metrics, opts.redis);
  attachRedisMemoryMetrics(opts.metrics, opts.redis);
  app.use(QUEUE_BOARD_PATH, limiter, requireRole(tokens, 'viewer', onRefusal), ...queues.board);

  const tokenFile = opts.config.api.tokenFile;
  const onTokenFile = () =>
    void reloadTokensAudited(ctx, 'token file changed', 'api').then(
      (r) => (r.ok ? log.info(`token file re-read: ${r.added.length} added, ${r.removed.length} removed, ${r.changed.length} changed`) : log.error(`token file refused, previous tokens stay: ${r.error}`)),
      (e: Error) => log.warn(`token file reload not audited: ${e.message}`),
    );
  if (tokenFile) watchFile(tokenFile, { interval: TOKEN_FILE_POLL_MS, persistent: false }, onTokenFile);
  contexts.set(app, ctx);
  closers.set(app, async () => {
    if (tokenFile) unwatchFile(tokenFile, onTokenFile);
    await ctx.repeats.flush();
    await queues.close();
  });

  for (const d of defs) {
    // Authentication first, then the body: a caller without a valid token learns nothing about the input rules.
    const guards = d.role ? [requireRole(tokens, d.role, onRefusal)] : [];
    const body = d.body ? [jsonOnly, express.json({ limit: d.bodyLimit ?? BODY_LIMIT, strict: true })] : [];
    if (d.method === 'post') body.push(idempotency(opts.redis, opts.config.redis.prefix));
    const handler =
      d.path === '/api/v1/openapi.json'
        ? (_req: Request, res: Response) => void res.json(doc)
        : (req: Request, res: Response) => d.handler(ctx, req, res);
    app[d.method](d.path, ...guards, ...body, handler);
  }

  app.use((req: Request, res: Response) => sendProblem(res, 404, `no route ${req.method} ${req.path}`));
  // Every error answer is RFC 9457 application/problem+json (problem.ts); `problems` lists the fields at fault.
  app.use((err: Error & { type?: string; status?: number }, _req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof HttpError) return sendProblem(res, err.status, err.message, { problems: err.problems, ...err.extra });
    // body-parser's own errors: bad JSON, too large, bad charset. All are the client's input, never a 5xx.
    if (err.type === 'entity.parse.failed') return sendProblem(res, 400, 'invalid body', { problems: [{ path: '(body)', message: 'is not valid JSON' }] });
    if (err.type === 'entity.too.large') {
      const limit = (err as { limit?: number }).limit;
      const size = limit === undefined ? BODY_LIMIT : limit % 1048576 === 0 ? `${limit / 1048576}mb` : limit % 1024 === 0 ? `${limit / 1024}kb` : `${limit} bytes`;
      return sendProblem(res, 400, 'invalid body', { problems: [{ path: '(body)', message: `is larger than ${size}` }] });
    }
    if (err.status !== undefined && err.status >= 400 && err.status < 500) return sendProblem(res, 400, 'invalid request', { problems: [{ path: '(body)', message: err.message }] });
    // Redis did not answer within redis.commandTimeout (paused, or this process starved of CPU under a flood): the
    // request may be retried, and Alertmanager does retry a 503.
    if (/^Command timed out|Connection is closed|MaxRetriesPerRequestError|Reached the max retries/.test(err.message) || err.name === 'MaxRetriesPerRequestError') {
      res.setHeader('Retry-After', '1');
      return sendProblem(res, 503, 'Redis did not answer in time; retry');
    }
    sendProblem(res, 500, 'internal error; see the service log');
    process.emitWarning(`API internal error: ${err.message}`);
  });
  return app;
}
