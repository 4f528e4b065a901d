import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import type { Express } from 'express';
import type { Redis } from 'ioredis';
import { Queue, Worker, type Job, type JobsOptions } from 'bullmq';
import { createMetrics, createRedis, parseConfig, type Config, type Logger, type Metrics } from '@portal-failover/shared';
import { closeApp, createApp } from '@portal-failover/api';
import { hashToken, type Role } from '../../services/api/src/auth';
import { sharedRedisUrl } from '../support/redis-server';

export const ROLES: readonly Role[] = ['viewer', 'automation', 'operator', 'admin'];

/** One random token per role for this test file. */
export const TOKENS: Record<Role, string> = {
  viewer: `pf_qv_${randomBytes(18).toString('base64url')}`,
  automation: `pf_qu_${randomBytes(18).toString('base64url')}`,
  operator: `pf_qo_${randomBytes(18).toString('base64url')}`,
  admin: `pf_qa_${randomBytes(18).toString('base64url')}`,
};

export const bearer = (role: Role): string => `Bearer ${TOKENS[role]}`;

/**
 * A valid config on the tests' private Redis under a fresh prefix. The portal is never checked or switched here
 * (no checker or controller runs): only the API's queue metrics and board are under test.
 */
export function queueTestConfig(prefix = `q${randomBytes(5).toString('hex')}`): Config {
  const { REDIS_URL: _ignored, ...env } = process.env;
  return parseConfig(
    {
      redis: { url: sharedRedisUrl(), prefix },
      api: {
        listen: '127.0.0.1:0',
        tokens: ROLES.map((role) => ({ name: `queue-test-${role}`, role, sha256: hashToken(TOKENS[role]) })),
        rateLimit: { max: 100000 },
      },
      portals: [
        {
          id: 'qportal',
          name: 'Queue test portal',
          sites: [
            { name: 'primary', provider: 'a', routing: { address: '192.0.2.10' }, checks: [{ type: 'http', url: 'http://127.0.0.1:9/', interval: '5s', timeout: '1s' }] },
            { name: 'standby', provider: 'b', routing: { address: '198.51.100.20' }, checks: [{ type: 'http', url: 'http://127.0.0.1:9/', interval: '5s', timeout: '1s' }] },
          ],
          traffic: [{ kind: 'zonefile', path: path.join(os.tmpdir(), `${prefix}.zone`), zone: 'portal.example.', record: 'www.portal.example.', type: 'A', ttl: 30 }],
        },
      ],
    },
    'queue-test',
    env,
  );
}

/** The real API app on its own Redis connection, as the service builds it. */
export interface AppHarness {
  config: Config;
  app: Express;
  redis: Redis;
  metrics: Metrics;
  close(): Promise<void>;
}

export function startApp(config: Config, logger?: Logger): AppHarness {
  const redis = createRedis(config.redis, 'command');
  const metrics = createMetrics(undefined, { defaultMetrics: false });
  const app = createApp({ config, redis, metrics, logger });
  return {
    config,
    app,
    redis,
    metrics,
    close: async () => {
      await closeApp(app);
      if (redis.status !== 'end') await redis.quit().catch(() => undefined);
    },
  };
}

/** Producer handles on the deployment's queues (own connection), plus a manual worker to make active/failed jobs. */
export class QueueWriter {
  /** The writer's command connection (also handy for raw keys). */
  readonly redis: Redis;
  private readonly workerConnection: Redis;
  private readonly queues = new Map<string, Queue>();
  private readonly workers: Worker[] = [];

  constructor(private readonly prefix: string) {
    this.redis = createRedis(sharedRedisUrl(), 'command');
    this.workerConnection = createRedis(sharedRedisUrl(), 'blocking');
  }

  queue(name: string): Queue {
    let q = this.queues.get(name);
    if (!q) {
      q = new Queue(name, { connection: this.redis, prefix: this.prefix });
      this.queues.set(name, q);
    }
    return q;
  }

  async add(name: string, n: number, opts: JobsOptions = {}): Promise<Job[]> {
    const out: Job[] = [];
    for (let i = 0; i < n; i++) out.push(await this.queue(name).add('job', { i }, opts));
    return out;
  }

  /** Takes the next waiting job as a worker would: `fail` moves it to failed, otherwise it stays active. */
  async take(name: string, fail: boolean): Promise<Job> {
    const worker = new Worker(name, null, { connection: this.workerConnection, prefix: this.prefix, autorun: false });
    this.workers.push(worker);
    const token = `test-${randomBytes(4).toString('hex')}`;
    const job = (await worker.getNextJob(token)) as Job | undefined;
    if (!job) throw new Error(`no waiting job in ${name}`);
    if (fail) await job.moveToFailed(new Error('made to fail by the test'), token, false);
    return job;
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.workers.map((w) => w.close(true)));
    await Promise.allSettled([...this.queues.values()].map((q) => q.close()));
    await Promise.allSettled([this.redis.quit(), this.workerConnection.quit()]);
  }
}

/** Values of one metric from Prometheus text, keyed by its label set rendered as `k=v,k=v` (sorted). */
export function samples(text: string, name: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const labels = [...(m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((l) => `${l[1]}=${l[2]}`).sort();
    out.set(labels.join(','), Number(m[3]));
  }
  return out;
}
