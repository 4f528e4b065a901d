import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Redis } from 'ioredis';
import { sendProblem } from './problem';
import { createLogger, DeploymentQueues, RateLimitedLog, registerQueueMetrics, type Config, type Logger, type Metrics } from '@portal-failover/shared';

/** Where the operators' queue board (bull-board) is mounted. Documented in routes.ts as GET /admin/queues. */
export const QUEUE_BOARD_PATH = '/admin/queues';

/**
 * The board's page loads its own scripts and styles from /admin/queues/static, inline style attributes, and the
 * IBM Plex fonts from Google Fonts; it has no inline script (its config is a JSON data block). Helmet's default
 * policy would mostly do, except `upgrade-insecure-requests`, which breaks every asset when the board is opened
 * over plain HTTP (an SSH tunnel to the API port). This policy applies to /admin/queues only.
 */
export const QUEUE_BOARD_CSP = [
  "default-src 'self'",
  "base-uri 'self'",
  "connect-src 'self'",
  "font-src 'self' https://fonts.gstatic.com data:",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "img-src 'self' data:",
  "object-src 'none'",
  "script-src 'self'",
  "script-src-attr 'none'",
  "style-src 'self' 'unsafe-inline' https://fonts.googleapis.com",
].join('; ');

export interface QueueSupportOptions {
  config: Config;
  /** The API's command connection; the queue handles share it and never close it. */
  redis: Redis;
  metrics: Metrics;
  logger?: Logger;
}

export interface QueueSupport {
  /** Middleware for QUEUE_BOARD_PATH, after authentication: read-only guard, CSP, queue list, bull-board. */
  board: RequestHandler[];
  /** Stops the metrics collector and closes the queue handles. */
  close(): Promise<void>;
}

/**
 * BullMQ queue metrics on /metrics and the read-only queue board, over one set of queue handles. Nothing touches
 * Redis until the first scrape or page view.
 *
 * The board is read-only for every role: each queue is added with readOnlyMode (bull-board hides the buttons and
 * its API answers 405 to writes), and any request other than GET/HEAD is refused here before it reaches
 * bull-board. Retrying or cleaning jobs of the check and result queues is never needed to operate a failover
 * (checks are re-scheduled, stale results are dropped), so admin gets no write access either.
 */
export function queueSupport(opts: QueueSupportOptions): QueueSupport {
  const logger = (opts.logger ?? createLogger()).child({ component: 'queues' });
  const warn = new RateLimitedLog(logger);
  const queues = new DeploymentQueues({ connection: opts.redis, prefix: opts.config.redis.prefix, logger });
  const collector = registerQueueMetrics(opts.metrics, queues, { logger });

  const serverAdapter = new ExpressAdapter().setBasePath(QUEUE_BOARD_PATH);
  const board = createBullBoard({
    queues: [],
    serverAdapter,
    options: { uiConfig: { boardTitle: 'portal-failover queues', hideDocsLink: true } },
  });
  const router: RequestHandler = serverAdapter.getRouter();

  const readOnly: RequestHandler = (req: Request, res: Response, next: NextFunction) => {
    if (req.method === 'GET' || req.method === 'HEAD') return next();
    res.setHeader('Allow', 'GET, HEAD');
    sendProblem(res, 405, 'the queue board is read-only');
  };
  const csp: RequestHandler = (_req, res, next) => {
    // Replaces the header helmet() set for the whole app.
    res.setHeader('Content-Security-Policy', QUEUE_BOARD_CSP);
    next();
  };
  // A checker started since the last request adds a checks-<vantage> queue: the board follows the discovery.
  let shown = '';
  const syncQueues: RequestHandler = async (_req, _res, next) => {
    let names: string[];
    try {
      names = await queues.names();
    } catch (err) {
      warn.warn('discover', `queue board: cannot list the checks-* queues: ${(err as Error).message}`);
      names = queues.knownNames();
    }
    const key = names.join('\n');
    if (key !== shown) {
      board.replaceQueues(names.map((n) => new BullMQAdapter(queues.handle(n), { readOnlyMode: true, allowRetries: false })));
      shown = key;
    }
    next();
  };

  return {
    board: [readOnly, csp, syncQueues, router],
    close: async () => {
      collector.detach();
      await queues.close();
    },
  };
}
