// Long because it is one self-contained run: it starts its own Redis and target, runs each size and each
// scale-out count against standalone services, and prints the tables; the helpers only make sense together.
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
import { rssMiB, spawnNode, stopChild, treeRssMiB } from './bench-processes';
import { bareHttpRate, blackboxRate, type Rate } from './scale-references';
import { failoverAtScale } from './scale-failover';

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
 * First check: the first request the target logs after the services were started.
 * Settings (environment): BENCH_ENDPOINTS (default 10000,25000,50000: 1k, 2.5k and 5k checks/s offered at the
 * default interval; set but empty: none), BENCH_INTERVAL_MS (default 10000), BENCH_SECONDS (measured window, default 20), BENCH_WARMUP
 * (seconds, default 15), BENCH_CONCURRENCY (checker.concurrency, default 256), BENCH_START_TIMEOUT (seconds to the
 * first completed check, default 60; a size that does not get there is reported as such, not measured),
 * BENCH_ALL_IN_ONE (endpoints offered to one `npm start`, default 25000; empty: none), BENCH_SCALEOUT (checker
 * process counts for the scale-out table, default 1,2,4; empty: none), BENCH_SCALEOUT_ENDPOINTS (endpoints offered
 * to them, default 25000), BENCH_FAILOVER_ENDPOINTS (size of the failover-at-scale run, default 25000; empty: none),
 * BENCH_REF_SECONDS (default 10) and BENCH_REF_CONCURRENCY (default 64) for the reference rates.
 *
 * Scale-out: the same config run by N checker processes of one vantage (as users scale a vantage out), one
 * controller; completed/s and skipped are summed over the processes' /metrics.
 *
 * References, same target, same run: blackbox exporter's /probe driven as fast as it answers, and a bare
 * `http.get` loop (scale-references.ts). Failover at scale: one portal's primary is cut while the others keep being
 * checked, timed to the zone file holding the standby's address (scale-failover.ts).
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

/** One size; set but empty means "not this part". */
function optionalSize(name: string, fallback: number): number | undefined {
  if (process.env[name] === '') return undefined;
  return listEnv(name, [fallback])[0];
}

const S = {
  endpoints: process.env.BENCH_ENDPOINTS === '' ? [] : listEnv('BENCH_ENDPOINTS', [10_000, 25_000, 50_000]),
  intervalMs: intEnv('BENCH_INTERVAL_MS', 10_000),
  seconds: intEnv('BENCH_SECONDS', 20),
  warmup: intEnv('BENCH_WARMUP', 15),
  concurrency: intEnv('BENCH_CONCURRENCY', 256),
  startTimeout: intEnv('BENCH_START_TIMEOUT', 60),
  scaleOut: (process.env.BENCH_SCALEOUT ?? '1,2,4').split(',').filter((x) => x.trim() !== '').map((x) => {
    const n = Number(x.trim());
    if (!Number.isInteger(n) || n < 1) throw new Error(`BENCH_SCALEOUT must be a comma-separated list of integers >= 1, got ${JSON.stringify(process.env.BENCH_SCALEOUT)}`);
    return n;
  }),
  scaleOutEndpoints: listEnv('BENCH_SCALEOUT_ENDPOINTS', [25_000])[0],
  allInOne: optionalSize('BENCH_ALL_IN_ONE', 25_000),
  failoverEndpoints: optionalSize('BENCH_FAILOVER_ENDPOINTS', 25_000),
  refSeconds: intEnv('BENCH_REF_SECONDS', 10),
  refConcurrency: intEnv('BENCH_REF_CONCURRENCY', 64),
};


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

async function redisCommands(redis: Redis): Promise<number> {
  const m = /total_commands_processed:(\d+)/.exec(await redis.info('stats'));
  return m ? Number(m[1]) : 0;
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

/** `services`: standalone checker process(es) and controller; `all-in-one`: one `npm start` (checker, controller, API). */
type Mode = 'services' | 'all-in-one';

async function oneSize(redis: RedisServer, admin: Redis, target: StaticHttpTarget, dir: string, endpoints: number, processes = 1, mode: Mode = 'services'): Promise<Row | NotStarted> {
  const intervalMs = S.intervalMs;
  const prefix = `bench${randomBytes(3).toString('hex')}`;
  const apiPort = await freePort();
  const raw = scaleRawConfig({ portals: endpoints / 2, intervalMs, targetUrl: target.url, redisUrl: redis.url, prefix, concurrency: S.concurrency, apiListen: `127.0.0.1:${apiPort}` });
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
  // The all-in-one serves /metrics on its API; it is both "checker" and "controller" below.
  const controller =
    mode === 'all-in-one'
      ? spawnNode('cli/dist/main.js', env, controllerLog, ['start', '-c', configFile])
      : spawnNode('services/controller/dist/main.js', { ...env, METRICS_LISTEN: `127.0.0.1:${controllerPort}` }, controllerLog);
  const checkers = mode === 'all-in-one' ? [controller] : checkerPorts.map((port) => spawnNode('services/checker/dist/main.js', { ...env, METRICS_LISTEN: `127.0.0.1:${port}` }, checkerLog));
  const metricsUrl = mode === 'all-in-one' ? [`http://127.0.0.1:${apiPort}/metrics`] : checkerPorts.map((port) => `http://127.0.0.1:${port}/metrics`);
  const results = new Queue(RESULTS_QUEUE, { connection: admin, prefix: keys(prefix).bull });
  let rssChecker = 0;
  let rssController = 0;
  const rssTimer = setInterval(() => {
    // One npm start counts with the checker process it forks.
    const rss = mode === 'all-in-one' ? treeRssMiB : rssMiB;
    rssChecker = Math.max(rssChecker, ...checkers.map((c) => rss(c.pid)));
    rssController = Math.max(rssController, rss(controller.pid));
  }, 500);
  try {
    const logFile = target.accessLogFile;
    if (!logFile) throw new Error('the bench target must keep an access log');
    // Nothing else probes the target while a size runs: the first request it logs from now on is the first check.
    const logAtStart = fs.statSync(logFile).size;
    // Its own loop, not waitFor: a service that exits must end the bench at once, not after the timeout.
    for (;;) {
      const exited = checkers.find((c) => c.exitCode !== null);
      if (exited) throw new Error(`checker exited (${exited.exitCode}):\n${logTail(checkerLog)}`);
      if (controller.exitCode !== null) throw new Error(`controller exited (${controller.exitCode}):\n${logTail(controllerLog)}`);
      if (Date.now() - startedAt > S.startTimeout * 1000) return { endpoints, due: endpoints / (intervalMs / 1000), notStarted: true };
      // Read off the target's log, not /metrics: scraping a 25,000-endpoint service ten times a second while it
      // starts measured the scrapes (a large exposition each), not the start.
      const size = fs.statSync(logFile).size;
      if (size > logAtStart && arrivals(logFile, logAtStart, size).length > 0) break;
      await delay(100);
    }
    const firstCheckS = (Date.now() - startedAt) / 1000;
    await delay(S.warmup * 1000);
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
    await Promise.all([...new Set([...checkers, controller])].map(stopChild));
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
    /** Every run below counts towards the peak too. */
    const measured: (Row | NotStarted)[] = [];
    if (S.allInOne !== undefined) {
      const r = await oneSize(redis, admin, target, dir, S.allInOne, 1, 'all-in-one');
      measured.push(r);
      console.log(`\nOne \`npm start\` (checker, controller and API in one process), ${S.allInOne} endpoints every ${S.intervalMs} ms:`);
      console.log(
        table(
          ['endpoints', 'first check', 'due/s', 'completed/s', 'ran', 'skipped', 'lag p50', 'lag p99', 'results age p99', 'RSS'],
          [
            r.notStarted
              ? [String(r.endpoints), `none in ${S.startTimeout} s`, f(r.due), '-', '-', '-', '-', '-', '-', '-']
              : [String(r.endpoints), `${f(r.firstCheckS, 1)} s`, f(r.due), f(r.completed), `${f((100 * r.completed) / r.due, 1)} %`, r.skipped, r.p50, r.p99, `${f(r.ageP99, 2)} s`, `${f(r.rssChecker)} MiB`],
          ],
        ),
      );
    }
    if (S.scaleOut.length) {
      const out: (Row | NotStarted)[] = [];
      for (const n of S.scaleOut) {
        out.push(await oneSize(redis, admin, target, dir, S.scaleOutEndpoints, n));
        measured.push(out[out.length - 1]);
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
    // Nothing else runs now: each reference has the machine to itself, like each size above.
    const blackbox = await blackboxRate(target.url, S.refSeconds, S.refConcurrency);
    const bare = await bareHttpRate(target.url, S.refSeconds, S.refConcurrency);
    const peak = Math.max(0, ...[...rows, ...measured].map((r) => (r.notStarted ? 0 : r.completed)));
    const ratio = (ref: Rate | string) => (typeof ref === 'string' ? '-' : `${f(peak / ref.perSecond, 2)}x`);
    const rate = (ref: Rate | string) => (typeof ref === 'string' ? ref : `${f(ref.perSecond)} (${ref.concurrency} in flight, ${ref.failed} failed)`);
    console.log(`\nReferences on the same target, ${S.refSeconds} s each, against portal-failover's peak of ${f(peak)} completed checks/s above:`);
    console.log(
      table(
        ['prober', 'probes/s', 'portal-failover peak / this'],
        [
          ['blackbox exporter /probe (http_2xx)', rate(blackbox), ratio(blackbox)],
          ['bare Node http.get loop (no agent)', rate(bare), ratio(bare)],
        ],
      ),
    );
    if (S.failoverEndpoints !== undefined) {
      const fo = await failoverAtScale(redis, target, dir, S.failoverEndpoints, S.intervalMs, S.warmup);
      console.log(`\nFailover at scale: one \`npm start\` with ${fo.endpoints} endpoints every ${S.intervalMs} ms, one portal's primary cut (connections refused):`);
      console.log(
        table(
          ['endpoints', 'cut -> zone file names the standby', 'bound (failureThreshold x interval + 1 s)', 'within', 'RSS'],
          [[String(fo.endpoints), fo.switchedS === undefined ? `not within ${f(2 * fo.boundS)} s` : `${f(fo.switchedS, 1)} s`, `${f(fo.boundS)} s`, fo.switchedS !== undefined && fo.switchedS <= fo.boundS ? 'yes' : 'NO', `${f(fo.rssMiB)} MiB`]],
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
