import type { ConfigLoadOptions } from '../config/fields';
import http from 'node:http';
import type { Redis } from 'ioredis';
import { parseHostPort } from '../config/fields';
import { loadConfig, ConfigError } from '../config/load';
import type { Config } from '../config/schema';
import { createLogger, type Logger } from './logger';
import { checkerFamiliesText, createMetrics, sendMetrics, type Metrics } from './metrics';
import { assertRedisReachable, createRedis, describeRedis } from './redis';
import { attachRedisUpMetric } from './redis-health';
import { CHECKER_HEAP_GROWING_PERCENT, HEAP_GROWING_PERCENT, limitHeapGrowth } from './heap-growth';

export interface ServiceContext {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  redis: Redis;
  bullConnection: Redis;
}

export type Stop = () => Promise<void>;

/** Loads the config, or prints every problem and exits 2: an operator gets a list, not a stack trace. */
export function loadConfigOrExit(path?: string, opts: ConfigLoadOptions = {}): Config {
  try {
    return loadConfig(path, process.env, opts);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

export async function createServiceContext(config: Config, logger: Logger, metrics = createMetrics()): Promise<ServiceContext> {
  await assertRedisReachable(config.redis);
  const redis = createRedis(config.redis, 'command');
  const bullConnection = createRedis(config.redis, 'blocking');
  const rl = logger.child({ component: 'redis' });
  let lastWarn = 0;
  const onError = (err: Error) => {
    if (Date.now() - lastWarn > 30_000) {
      lastWarn = Date.now();
      rl.warn(`Redis connection problem at ${describeRedis(config.redis)}: ${err.message}`);
    }
  };
  redis.on('error', onError);
  bullConnection.on('error', onError);
  attachRedisUpMetric(metrics, redis);
  return { config, logger, metrics, redis, bullConnection };
}

export async function closeServiceContext(ctx: ServiceContext): Promise<void> {
  await Promise.allSettled([ctx.redis.quit(), ctx.bullConnection.quit()]);
}

/**
 * Shared main() of every service: config, Redis check with a helpful message, signals, and a bounded shutdown
 * (BullMQ's worker.close() can otherwise wait forever on a stuck job).
 */
/** A stray rejection is logged, not fatal: a failover controller that dies on one bad reply helps nobody. */
export function logUnhandled(logger: Logger): void {
  process.on('unhandledRejection', (reason) => {
    logger.error(`unhandled rejection: ${reason instanceof Error ? reason.message : String(reason)}`);
  });
}

export async function runService(name: string, start: (ctx: ServiceContext) => Promise<Stop>, load: ConfigLoadOptions = {}): Promise<void> {
  limitHeapGrowth(process.execArgv, name === 'checker' ? CHECKER_HEAP_GROWING_PERCENT : HEAP_GROWING_PERCENT);
  const logger = createLogger().child({ component: name });
  logUnhandled(logger);
  const config = loadConfigOrExit(process.env.FAILOVER_CONFIG, load);
  let ctx: ServiceContext;
  try {
    ctx = await createServiceContext(config, logger);
  } catch (err) {
    logger.error((err as Error).message);
    process.exit(1);
  }
  const stop = await start(ctx);
  const metricsServer = serveMetrics(ctx, process.env.METRICS_LISTEN);
  answerParent(ctx, () => shutdown('parent gone'));
  logger.info(`${name} started`, { redis: describeRedis(config.redis) });
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info(`${signal} received, stopping ${name}`);
    const force = setTimeout(() => {
      logger.error(`${name} did not stop within 10s; exiting`);
      process.exit(1);
    }, 10_000);
    force.unref();
    metricsServer?.close();
    void stop()
      .then(() => closeServiceContext(ctx))
      .then(() => process.exit(0));
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

/** What a process forked by the all-in-one (cli/src/checker-child.ts) asks and answers over its IPC channel. */
export type ChildRequest = { type: 'metrics'; id: number };
export type ChildReply = { type: 'started' } | { type: 'metrics'; id: number; text: string };

/**
 * A service forked with an IPC channel (the all-in-one's checker process) serves its metrics to its parent, which
 * exports them on its own /metrics, and stops when the parent is gone: an orphan would keep probing for nobody.
 */
function answerParent(ctx: ServiceContext, parentGone: () => void): void {
  const send = process.send?.bind(process);
  if (!send) return;
  process.on('message', (msg: ChildRequest) => {
    if (msg?.type !== 'metrics') return;
    void checkerFamiliesText(ctx.metrics).then((text) => send({ type: 'metrics', id: msg.id, text } satisfies ChildReply));
  });
  process.on('disconnect', parentGone);
  // Called once the service's start() returned: its checker is running.
  send({ type: 'started' } satisfies ChildReply);
}

/** Redis answers a PING within a second: what a checker or controller needs to do any work. */
async function readiness(ctx: ServiceContext): Promise<{ ok: boolean; body: { status: string; error?: string } }> {
  try {
    await Promise.race([ctx.redis.ping(), new Promise((_, reject) => setTimeout(() => reject(new Error('no answer within 1s')), 1000).unref())]);
    return { ok: true, body: { status: 'ready' } };
  } catch (err) {
    return { ok: false, body: { status: 'not ready', error: `redis: ${(err as Error).message}` } };
  }
}

/**
 * A standalone checker or controller has no API to hang /metrics on; METRICS_LISTEN=host:port gives it one so
 * Prometheus can scrape every process of a scaled-out install.
 */
function serveMetrics(ctx: ServiceContext, listen: string | undefined): http.Server | undefined {
  if (!listen) return undefined;
  const hp = parseHostPort(listen);
  if (!hp) {
    ctx.logger.error(`METRICS_LISTEN must be host:port, got "${listen}"; not serving metrics`);
    return undefined;
  }
  const server = http.createServer((req, res) => {
    // Kubernetes probes hit these, not /metrics: liveness is "the process answers", readiness "Redis answers".
    if (req.url === '/healthz') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    if (req.url === '/readyz') {
      void readiness(ctx).then((r) => res.writeHead(r.ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(r.body)));
      return;
    }
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    // A scrape that cannot start answers 500 (the API's route answers problem+json); one that fails later is cut.
    sendMetrics(ctx.metrics, res).catch((err: Error) => {
      ctx.logger.warn(`metrics scrape failed: ${err.message}`);
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics: ${err.message}\n`);
    });
  });
  server.on('error', (err) => ctx.logger.error(`metrics listener on ${listen} failed: ${err.message}`));
  server.listen(hp.port, hp.host, () => ctx.logger.info(`metrics on http://${listen}/metrics`));
  return server;
}
