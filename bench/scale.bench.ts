// Long because it is one self-contained run: it starts its own Redis and target, runs each size and each
// scale-out count against standalone services, and prints the tables; the helpers only make sense together.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { keys, RESULTS_QUEUE } from '@portal-failover/shared';
import { freePort, logTail } from '../test/support/free-port';
import { startRedis, type RedisServer } from '../test/support/redis-server';
import { startStaticHttpTarget, type StaticHttpTarget } from '../test/support/static-http-target';
import { scaleRawConfig } from '../test/support/scale-fixture';
import { table, intEnv } from './stats';

/**
 * `npm run bench:scale`: how many of the checks that fall due the checker really runs, and whether the controller
 * keeps up with their results. For each size it starts a standalone checker and a standalone controller (so each
 * has its own RSS) on a fresh Redis prefix of the bench's own Redis; every check probes one local HAProxy that
 * answers 200 itself (`http-request return`) and logs the arrival time of each request.
 *
 * Lag (due -> probe start) is taken from the checker's failover_check_lag_seconds when it exports one; otherwise
 * from the target's log: a check of interval I is due at multiples of I (BullMQ `every` schedulers are aligned),
 * so a request arriving at t started t mod I late. That reading is only meaningful while lag < I, which holds for
 * a checker that drops probes older than their interval.
 *
 * Settings (environment): BENCH_ENDPOINTS (default 500,2000,5000), BENCH_INTERVAL_MS (default 1000),
 * BENCH_SECONDS (measured window, default 15), BENCH_WARMUP (seconds, default 5), BENCH_CONCURRENCY
 * (checker.concurrency, default 256), BENCH_START_TIMEOUT (seconds to the first completed check, default 60; a size that
 * does not get there is reported as such, not measured), BENCH_SCALEOUT (checker process counts for the scale-out
 * table, default 1,2,4; empty: none), BENCH_SCALEOUT_ENDPOINTS (endpoints offered to them, default 5000).
 *
 * Scale-out: the same config run by N checker processes of one vantage (as users scale a vantage out), one
 * controller; completed/s and skipped are summed over the processes' /metrics.
 */


function listEnv(name: string, fallback: number[]): number[] {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  return raw.split(',').map((s) => {
    const n = Number(s.trim());
    if (!Number.isInteger(n) || n < 2 || n % 2 !== 0) throw new Error(`${name} must be a comma-separated list of even integers >= 2, got ${JSON.stringify(raw)}`);
    return n;
  });
}

const S = {
  endpoints: listEnv('BENCH_ENDPOINTS', [500, 2000, 5000]),
  intervalMs: intEnv('BENCH_INTERVAL_MS', 1000),
  seconds: intEnv('BENCH_SECONDS', 15),
  warmup: intEnv('BENCH_WARMUP', 5),
  concurrency: intEnv('BENCH_CONCURRENCY', 256),
  startTimeout: intEnv('BENCH_START_TIMEOUT', 60),
  scaleOut: (process.env.BENCH_SCALEOUT ?? '1,2,4').split(',').filter((x) => x.trim() !== '').map((x) => {
    const n = Number(x.trim());
    if (!Number.isInteger(n) || n < 1) throw new Error(`BENCH_SCALEOUT must be a comma-separated list of integers >= 1, got ${JSON.stringify(process.env.BENCH_SCALEOUT)}`);
    return n;
  }),
  scaleOutEndpoints: listEnv('BENCH_SCALEOUT_ENDPOINTS', [5000])[0],
};

// Compiled to bench/dist/bench/.
const ROOT = path.resolve(__dirname, '..', '..', '..');

interface Scrape {
  completed: number;
  skipped: number;
  /** failover_check_lag_seconds buckets summed over labels; empty when the checker has no such metric. */
  lagBuckets: Map<number, number>;
}

function value(line: string): number {
  return Number(line.slice(line.lastIndexOf(' ') + 1));
}

function parseMetrics(text: string): Scrape {
  const s: Scrape = { completed: 0, skipped: 0, lagBuckets: new Map() };
  for (const line of text.split('\n')) {
    if (line.startsWith('failover_checks_skipped_total{')) s.skipped += value(line);
    else if (line.startsWith('failover_check_lag_seconds_bucket{')) {
      const le = /le="([^"]+)"/.exec(line)?.[1];
      if (!le) continue;
      const bound = le === '+Inf' ? Infinity : Number(le);
      s.lagBuckets.set(bound, (s.lagBuckets.get(bound) ?? 0) + value(line));
    }
  }
  return s;
}

/** Completed probes: the per-check duration histogram's counts added up, or the vantage-level one where that is all there is. */
function completedOf(text: string): number {
  let perCheck = 0;
  let perVantage = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('failover_check_duration_seconds_count')) perCheck += value(line);
    else if (line.startsWith('failover_vantage_check_duration_seconds_count')) perVantage += value(line);
  }
  return Math.max(perCheck, perVantage);
}

async function scrapeOne(url: string): Promise<Scrape> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  const text = await res.text();
  return { ...parseMetrics(text), completed: completedOf(text) };
}

/** Every checker process's figures added up (lag buckets too: they share their bounds). */
async function scrape(urls: readonly string[]): Promise<Scrape> {
  const sum: Scrape = { completed: 0, skipped: 0, lagBuckets: new Map() };
  for (const s of await Promise.all(urls.map(scrapeOne))) {
    sum.completed += s.completed;
    sum.skipped += s.skipped;
    for (const [le, n] of s.lagBuckets) sum.lagBuckets.set(le, (sum.lagBuckets.get(le) ?? 0) + n);
  }
  return sum;
}

function lagFromHistogram(a: Scrape, b: Scrape, q: number): string {
  const bounds = [...b.lagBuckets.keys()].sort((x, y) => x - y);
  const total = (b.lagBuckets.get(Infinity) ?? 0) - (a.lagBuckets.get(Infinity) ?? 0);
  if (total <= 0) return '-';
  for (const le of bounds) {
    const n = (b.lagBuckets.get(le) ?? 0) - (a.lagBuckets.get(le) ?? 0);
    if (n >= q * total) return le === Infinity ? `> ${bounds[bounds.length - 2]} s` : `<= ${le < 1 ? `${Math.round(le * 1000)} ms` : `${le} s`}`;
  }
  return '-';
}

function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** Request arrival times (epoch ms) the target logged between two byte offsets of its log. */
function arrivals(file: string, from: number, to: number): number[] {
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(to - from);
    fs.readSync(fd, buf, 0, buf.length, from);
    const out: number[] = [];
    for (const line of buf.toString('utf8').split('\n')) {
      const m = /^PFREQ (\d+) /.exec(line);
      if (m) out.push(Number(m[1]));
    }
    return out;
  } finally {
    fs.closeSync(fd);
  }
}

function rssMiB(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

async function redisCommands(redis: Redis): Promise<number> {
  const m = /total_commands_processed:(\d+)/.exec(await redis.info('stats'));
  return m ? Number(m[1]) : 0;
}

function spawnNode(script: string, env: NodeJS.ProcessEnv, logFile: string): ChildProcess {
  const log = fs.openSync(logFile, 'a');
  try {
    return spawn(process.execPath, [path.join(ROOT, script)], { env: { ...process.env, ...env }, stdio: ['ignore', log, log] });
  } finally {
    fs.closeSync(log);
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

interface NotStarted {
  endpoints: number;
  due: number;
  notStarted: true;
}

interface Row {
  notStarted?: false;
  endpoints: number;
  processes: number;
  firstCheckS: number;
  due: number;
  completed: number;
  atTarget: number;
  skipped: string;
  p50: string;
  p99: string;
  lagFrom: string;
  consumed: number;
  backlog: number;
  ageP99: number;
  redisOps: number;
  rssChecker: number;
  rssController: number;
}

async function oneSize(redis: RedisServer, admin: Redis, target: StaticHttpTarget, dir: string, endpoints: number, processes = 1): Promise<Row | NotStarted> {
  const intervalMs = S.intervalMs;
  const prefix = `bench${randomBytes(3).toString('hex')}`;
  const raw = scaleRawConfig({ portals: endpoints / 2, intervalMs, targetUrl: target.url, redisUrl: redis.url, prefix, concurrency: S.concurrency });
  const configFile = path.join(dir, `${prefix}.yaml`);
  // JSON is YAML: the services read it through their normal loader.
  fs.writeFileSync(configFile, JSON.stringify(raw));
  const controllerPort = await freePort();
  const checkerPorts: number[] = [];
  for (let i = 0; i < processes; i++) checkerPorts.push(await freePort());
  const env = { FAILOVER_CONFIG: configFile, LOG_LEVEL: 'warn', REDIS_URL: redis.url };
  const startedAt = Date.now();
  const checkerLog = path.join(dir, `${prefix}-checker.log`);
  const controllerLog = path.join(dir, `${prefix}-controller.log`);
  const controller = spawnNode('services/controller/dist/main.js', { ...env, METRICS_LISTEN: `127.0.0.1:${controllerPort}` }, controllerLog);
  const checkers = checkerPorts.map((port) => spawnNode('services/checker/dist/main.js', { ...env, METRICS_LISTEN: `127.0.0.1:${port}` }, checkerLog));
  const metricsUrl = checkerPorts.map((port) => `http://127.0.0.1:${port}/metrics`);
  const results = new Queue(RESULTS_QUEUE, { connection: admin, prefix: keys(prefix).bull });
  let rssChecker = 0;
  let rssController = 0;
  const rssTimer = setInterval(() => {
    rssChecker = Math.max(rssChecker, ...checkers.map((c) => rssMiB(c.pid)));
    rssController = Math.max(rssController, rssMiB(controller.pid));
  }, 500);
  try {
    // Its own loop, not waitFor: a service that exits must end the bench at once, not after the timeout.
    for (;;) {
      const exited = checkers.find((c) => c.exitCode !== null);
      if (exited) throw new Error(`checker exited (${exited.exitCode}):\n${logTail(checkerLog)}`);
      if (controller.exitCode !== null) throw new Error(`controller exited (${controller.exitCode}):\n${logTail(controllerLog)}`);
      if (Date.now() - startedAt > S.startTimeout * 1000) return { endpoints, due: endpoints / (intervalMs / 1000), notStarted: true };
      // Every process serves /metrics once its checker started; the first completed check is then counted.
      if ((await scrape(metricsUrl).catch(() => ({ completed: 0 }))).completed > 0) break;
      await delay(100);
    }
    const firstCheckS = (Date.now() - startedAt) / 1000;
    await delay(S.warmup * 1000);
    const logFile = target.accessLogFile;
    if (!logFile) throw new Error('the bench target must keep an access log');
    const [a, opsA, waitingA] = [await scrape(metricsUrl), await redisCommands(admin), await results.getWaitingCount()];
    const offA = fs.statSync(logFile).size;
    const t0 = Date.now();
    const ages: number[] = [];
    while (Date.now() - t0 < S.seconds * 1000) {
      const [oldest] = await results.getWaiting(0, 0);
      ages.push(oldest ? Math.max(0, Date.now() - oldest.timestamp) / 1000 : 0);
      await delay(250);
    }
    const [b, opsB, waitingB] = [await scrape(metricsUrl), await redisCommands(admin), await results.getWaitingCount()];
    const offB = fs.statSync(logFile).size;
    const elapsed = (Date.now() - t0) / 1000;
    const seen = arrivals(logFile, offA, offB);
    const fromHistogram = b.lagBuckets.size > 0;
    const lags = seen.map((t) => (t % intervalMs) / 1000).sort((x, y) => x - y);
    const ms = (x: number) => (Number.isNaN(x) ? '-' : `${Math.round(x * 1000)} ms`);
    const completed = b.completed - a.completed;
    return {
      endpoints,
      processes,
      firstCheckS,
      due: endpoints / (intervalMs / 1000),
      completed: completed / elapsed,
      atTarget: seen.length / elapsed,
      skipped: fromHistogram ? String(b.skipped - a.skipped) : 'not counted',
      p50: fromHistogram ? lagFromHistogram(a, b, 0.5) : ms(percentile(lags, 0.5)),
      p99: fromHistogram ? lagFromHistogram(a, b, 0.99) : ms(percentile(lags, 0.99)),
      lagFrom: fromHistogram ? 'checker' : 'target',
      // Every completed probe adds one result; what did not pile up in the queue was taken by the controller.
      consumed: (completed - (waitingB - waitingA)) / elapsed,
      backlog: waitingB,
      ageP99: percentile([...ages].sort((x, y) => x - y), 0.99),
      redisOps: (opsB - opsA) / elapsed,
      rssChecker,
      rssController,
    };
  } finally {
    clearInterval(rssTimer);
    await Promise.all([...checkers.map(stopChild), stopChild(controller)]);
    await results.obliterate({ force: true }).catch(() => undefined);
    await results.close();
  }
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-bench-scale-'));
  const redis = await startRedis({ appendonly: false });
  const admin = new Redis(redis.url, { maxRetriesPerRequest: null });
  const target = await startStaticHttpTarget({ accessLog: true });
  try {
    console.log(
      `bench:scale on ${os.cpus().length} CPUs, load average ${os.loadavg()[0].toFixed(1)} at start; ` +
        `checks every ${S.intervalMs} ms, window ${S.seconds} s after ${S.warmup} s warm-up, checker.concurrency ${S.concurrency}`,
    );
    const rows: (Row | NotStarted)[] = [];
    for (const n of S.endpoints) {
      rows.push(await oneSize(redis, admin, target, dir, n));
      console.log(`  ${n} endpoints done`);
    }
    const f = (n: number, d = 0) => n.toFixed(d);
    console.log('\nStandalone checker + controller, every check against one local HAProxy `http-request return`:');
    console.log(
      table(
        ['endpoints', 'first check', 'due/s', 'completed/s', 'ran', 'at target/s', 'skipped', 'lag p50', 'lag p99', 'lag from', 'results taken/s', 'results backlog', 'results age p99', 'Redis ops/s', 'RSS checker', 'RSS controller'],
        rows.map((r) =>
          r.notStarted
            ? [String(r.endpoints), `none in ${S.startTimeout} s`, f(r.due), ...Array.from({ length: 13 }, () => '-')]
            : [
          String(r.endpoints),
          `${f(r.firstCheckS, 1)} s`,
          f(r.due),
          f(r.completed),
          `${f((100 * r.completed) / r.due, 1)} %`,
          f(r.atTarget),
          r.skipped,
          r.p50,
          r.p99,
          r.lagFrom,
          f(r.consumed),
          String(r.backlog),
          `${f(r.ageP99, 2)} s`,
          f(r.redisOps),
          `${f(r.rssChecker)} MiB`,
          `${f(r.rssController)} MiB`,
        ],
        ),
      ),
    );
    if (S.scaleOut.length) {
      const out: (Row | NotStarted)[] = [];
      for (const n of S.scaleOut) {
        out.push(await oneSize(redis, admin, target, dir, S.scaleOutEndpoints, n));
        console.log(`  ${n} checker process(es) done`);
      }
      console.log(`\nScale-out: ${S.scaleOutEndpoints} endpoints every ${S.intervalMs} ms, N checker processes of one vantage, one controller (load average now ${os.loadavg()[0].toFixed(1)}):`);
      console.log(
        table(
          ['checker processes', 'due/s', 'completed/s', 'ran', 'skipped', 'lag p50', 'lag p99', 'results age p99', 'RSS per checker (max)'],
          out.map((r, i) =>
            r.notStarted
              ? [String(S.scaleOut[i]), f(r.due), `none in ${S.startTimeout} s`, '-', '-', '-', '-', '-', '-']
              : [String(r.processes), f(r.due), f(r.completed), `${f((100 * r.completed) / r.due, 1)} %`, r.skipped, r.p50, r.p99, `${f(r.ageP99, 2)} s`, `${f(r.rssChecker)} MiB`],
          ),
        ),
      );
    }
    console.log(`\nload average at the end ${os.loadavg()[0].toFixed(1)} (the machine is shared; figures move with it)`);
  } finally {
    admin.disconnect();
    await target.stop();
    await redis.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
