import request from 'supertest';
import { DeploymentQueues, queueMetricsCollected, QUEUE_STATES, RESULTS_QUEUE, checksQueueName } from '@portal-failover/shared';
import { closeApp } from '@portal-failover/api';
import { captureLogger } from '../support/capture-logger';
import { sleep } from '../support/e2e';
import { QueueWriter, queueTestConfig, samples, startApp, type AppHarness } from './support';

/**
 * Issue "BullMQ queue metrics": GET /metrics of the real app reads every queue of the deployment at scrape time:
 * failover_queue_jobs{queue,state} and failover_queue_oldest_waiting_seconds{queue}, from the real Redis.
 */
jest.setTimeout(60_000);

const VANTAGE = 'qm-hn';
const CHECKS = checksQueueName(VANTAGE);

let h: AppHarness;
let writer: QueueWriter;
/** Bounds of the moment the oldest waiting job of each queue was added. */
let oldestAdded: { from: number; to: number };

beforeAll(async () => {
  const config = queueTestConfig();
  h = startApp(config);
  writer = new QueueWriter(config.redis.prefix);
  // results: one job taken (active), one failed, then the waiting ones, a delayed one.
  await writer.add(RESULTS_QUEUE, 2);
  await writer.take(RESULTS_QUEUE, false);
  await writer.take(RESULTS_QUEUE, true);
  const from = Date.now();
  await writer.add(RESULTS_QUEUE, 1);
  await writer.add(CHECKS, 1);
  oldestAdded = { from, to: Date.now() };
  await sleep(1500);
  await writer.add(RESULTS_QUEUE, 2);
  await writer.add(RESULTS_QUEUE, 1, { delay: 60_000 });
  await writer.add(CHECKS, 1);
  await writer.add(CHECKS, 2, { priority: 5 });
  // A queue of another deployment (a longer prefix that starts with ours) must not show up.
  const other = new QueueWriter(`${config.redis.prefix}x`);
  await other.add(checksQueueName('elsewhere'), 3);
  await other.close();
});

afterAll(async () => {
  await writer?.close();
  await h?.close();
});

async function scrape(): Promise<{ text: string; at: { from: number; to: number } }> {
  const from = Date.now();
  const res = await request(h.app).get('/metrics');
  const to = Date.now();
  expect(res.status).toBe(200);
  return { text: res.text, at: { from, to } };
}

describe('GET /metrics', () => {
  it('counts jobs by state for results and every checks-<vantage> queue, and nothing of other prefixes', async () => {
    const { text } = await scrape();
    const jobs = samples(text, 'failover_queue_jobs');
    const expected = new Map<string, number>();
    const want: Record<string, Partial<Record<(typeof QUEUE_STATES)[number], number>>> = {
      [RESULTS_QUEUE]: { waiting: 3, active: 1, failed: 1, delayed: 1 },
      [CHECKS]: { waiting: 2, prioritized: 2 },
    };
    for (const [queue, counts] of Object.entries(want)) for (const state of QUEUE_STATES) expected.set(`queue=${queue},state=${state}`, counts[state] ?? 0);
    expect(Object.fromEntries(jobs)).toEqual(Object.fromEntries(expected));
    expect(text).toMatch(/# TYPE failover_queue_jobs gauge/);
  });

  it('gives the age of the oldest waiting job per queue, about as long as it has waited', async () => {
    const { text, at } = await scrape();
    const oldest = samples(text, 'failover_queue_oldest_waiting_seconds');
    expect([...oldest.keys()].sort()).toEqual([`queue=${CHECKS}`, `queue=${RESULTS_QUEUE}`]);
    for (const [queue, age] of oldest) {
      // Waited at least since the newest possible add time until the scrape began, at most from the oldest possible
      // add time until the scrape answered.
      const min = (at.from - oldestAdded.to) / 1000;
      const max = (at.to - oldestAdded.from) / 1000;
      expect({ queue, age, inRange: age > 0 && age >= min - 0.01 && age <= max + 0.01 }).toEqual({ queue, age, inRange: true });
      expect(age).toBeGreaterThanOrEqual(1.5);
    }
  });

  it('reads Redis on every scrape (no timer): a new job and a drained queue show at once', async () => {
    const before = samples((await scrape()).text, 'failover_queue_jobs').get(`queue=${RESULTS_QUEUE},state=waiting`);
    await writer.add(RESULTS_QUEUE, 1);
    const after = samples((await scrape()).text, 'failover_queue_jobs').get(`queue=${RESULTS_QUEUE},state=waiting`);
    expect(after).toBe((before ?? 0) + 1);
    // An empty queue: 0 waiting and an oldest-waiting age of 0.
    await writer.queue(CHECKS).drain(true);
    const { text } = await scrape();
    expect(samples(text, 'failover_queue_jobs').get(`queue=${CHECKS},state=waiting`)).toBe(0);
    expect(samples(text, 'failover_queue_jobs').get(`queue=${CHECKS},state=prioritized`)).toBe(0);
    expect(samples(text, 'failover_queue_oldest_waiting_seconds').get(`queue=${CHECKS}`)).toBe(0);
  });

  it('owns failover_queue_jobs while the app runs (the controller of the same process then leaves it alone)', async () => {
    expect(queueMetricsCollected(h.metrics)).toBe(true);
    const other = startApp(queueTestConfig());
    expect(queueMetricsCollected(other.metrics)).toBe(true);
    await closeApp(other.app);
    expect(queueMetricsCollected(other.metrics)).toBe(false);
    // A closed app's registry no longer reads queues, and still answers.
    expect((await other.metrics.registry.metrics()).includes('failover_queue_jobs{')).toBe(false);
    await other.close();
  });
});

describe('when Redis blinks', () => {
  it('the scrape still answers 200 with the last values read, and the problem is logged, rate-limited', async () => {
    const cap = captureLogger();
    const config = queueTestConfig();
    const w = new QueueWriter(config.redis.prefix);
    const app = startApp(config, cap.logger);
    try {
      await w.add(RESULTS_QUEUE, 2);
      await w.add(checksQueueName('blink'), 1);
      const first = await request(app.app).get('/metrics');
      expect(first.status).toBe(200);
      const jobs = samples(first.text, 'failover_queue_jobs');
      expect(jobs.get(`queue=${RESULTS_QUEUE},state=waiting`)).toBe(2);
      expect(jobs.get(`queue=checks-blink,state=waiting`)).toBe(1);

      app.redis.disconnect(); // no reconnect: every command now fails at once
      for (let i = 0; i < 3; i++) {
        const res = await request(app.app).get('/metrics');
        expect(res.status).toBe(200);
        const again = samples(res.text, 'failover_queue_jobs');
        expect(again.get(`queue=${RESULTS_QUEUE},state=waiting`)).toBe(2);
        expect(again.get(`queue=checks-blink,state=waiting`)).toBe(1);
        expect(samples(res.text, 'failover_queue_oldest_waiting_seconds').get(`queue=${RESULTS_QUEUE}`)).toBeGreaterThan(0);
      }
      const warnings = cap.lines.filter((l) => l.includes('"level":"warn"') && /cannot (read|list)/.test(l));
      expect(warnings.length).toBeGreaterThan(0);
      // Three failing scrapes, each failing for both queues and the discovery: logged once per cause, not per scrape.
      expect(warnings.length).toBeLessThanOrEqual(3);
    } finally {
      await w.close();
      await app.close();
    }
  });
});

describe('queue discovery', () => {
  it('finds checks-* queues by their meta hash under the prefix only, and picks up a new one at the next pass', async () => {
    const config = queueTestConfig();
    const w = new QueueWriter(config.redis.prefix);
    const cap = captureLogger();
    const redis = w.redis;
    const queues = new DeploymentQueues({ connection: redis, prefix: config.redis.prefix, logger: cap.logger, rediscoverEvery: 0 });
    try {
      expect(await queues.names()).toEqual([RESULTS_QUEUE]);
      await w.add(checksQueueName('b'), 1);
      await w.add(checksQueueName('a'), 1);
      // Keys that only look like queues: a job id ending in ":meta", and the same name under a longer prefix.
      await redis.hset(`${config.redis.prefix}:checks-b:job:meta`, 'x', '1');
      await redis.hset(`${config.redis.prefix}x:checks-c:meta`, 'x', '1');
      expect(await queues.names()).toEqual([RESULTS_QUEUE, 'checks-a', 'checks-b']);
      expect(queues.knownNames()).toEqual([RESULTS_QUEUE, 'checks-a', 'checks-b']);
      await redis.del(`${config.redis.prefix}x:checks-c:meta`);
    } finally {
      await queues.close();
      await w.close();
    }
  });

  it('caches a finished pass for rediscoverEvery', async () => {
    const config = queueTestConfig();
    const w = new QueueWriter(config.redis.prefix);
    const redis = w.redis;
    let now = 1_000_000;
    const queues = new DeploymentQueues({ connection: redis, prefix: config.redis.prefix, logger: captureLogger().logger, rediscoverEvery: 30_000, now: () => now });
    try {
      expect(await queues.names()).toEqual([RESULTS_QUEUE]);
      await w.add(checksQueueName('late'), 1);
      now += 29_000;
      expect(await queues.names()).toEqual([RESULTS_QUEUE]);
      now += 1_000;
      expect(await queues.names()).toEqual([RESULTS_QUEUE, 'checks-late']);
    } finally {
      await queues.close();
      await w.close();
    }
  });
});
