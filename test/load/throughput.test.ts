import fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import { Worker } from 'bullmq';
import { Registry } from 'prom-client';
import { checkDueAt, planShards } from '@portal-failover/checker';
import {
  checkName,
  closeServiceContext,
  createMetrics,
  createServiceContext,
  keys,
  parseConfig,
  RESULTS_QUEUE,
  resultsOf,
  type CheckResult,
  type ServiceContext,
} from '@portal-failover/shared';
import { parseCheckResult } from '../../services/controller/src/result-validation';
import { freePort, waitFor } from '../support/free-port';
import { spawnService, writeConfigFile, type ServiceProcess } from '../support/processes';
import { startRedis, type RedisServer } from '../support/redis-server';
import { startStaticHttpTarget, type StaticHttpTarget } from '../support/static-http-target';
import { scaleRawConfig } from '../support/scale-fixture';
import { sleep, testLogger } from '../support/e2e';

jest.setTimeout(150_000);

const PORTALS = 1000; // × 2 sites = 2,000 checks
const INTERVAL = 1_000;
const RUN_MS = 20_000;
/**
 * checker.concurrency of each checker process. A probe of the local target takes a few ms, so 1,000 a second per
 * process keep about 5-15 in flight; 48 leaves room for bursts. More in flight made each probe slower in one event
 * loop (wip/README.md of 2 Dec: 128 gave probe times p50 40-130 ms against 3-14 ms at 48).
 */
const CONCURRENCY = 48;
/**
 * Slots in the last two seconds are partial by design (stop). The first five seconds after both processes serve
 * metrics are not counted either: a freshly started process runs its first rounds on cold code and connections
 * (53-76 % of due checks in seconds 2-4 of the first runs, 96-100 % after); start-up is `npm run bench:scale`'s
 * "first check" figure, not this test's.
 */
const EDGE_MS = 2_000;
const WARMUP_MS = 5_000;

let redis: RedisServer | undefined;
let target: StaticHttpTarget | undefined;
let ctx: ServiceContext | undefined;
let intake: Worker | undefined;
const checkers: ServiceProcess[] = [];

afterAll(async () => {
  await Promise.allSettled(checkers.map((c) => c.stop()));
  await intake?.close();
  if (ctx) await closeServiceContext(ctx);
  await target?.stop();
  await redis?.stop();
});

/** Sum of every sample of one metric in a Prometheus text exposition. */
function sumOf(text: string, name: string): number {
  let n = 0;
  for (const line of text.split('\n')) if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) n += Number(line.slice(line.lastIndexOf(' ') + 1));
  return n;
}

async function scrape(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  if (!res.ok) throw new Error(`checker metrics on port ${port}: HTTP ${res.status}`);
  return res.text();
}

/** Requests the target logged, per `?c=<n>` (one n per check), from its access log. */
function requestsAtTarget(file: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const m = /^PFREQ \d+ \S*\?c=(\d+)/.exec(line);
    if (m) out.set(m[1], (out.get(m[1]) ?? 0) + 1);
  }
  return out;
}

it('2,000 endpoints at 1 s for 20 s, shared by two checker processes of one vantage: >= 99 % of due checks run, each result arrives once', async () => {
  redis = await startRedis({ appendonly: false });
  target = await startStaticHttpTarget({ accessLog: true });
  const logFile = target.accessLogFile!;
  const raw = scaleRawConfig({ portals: PORTALS, intervalMs: INTERVAL, targetUrl: target.url, redisUrl: redis.url, prefix: `tp${randomBytes(3).toString('hex')}`, concurrency: CONCURRENCY });
  const config = parseConfig(raw, 'scale', {});
  const configFile = writeConfigFile(raw);
  ctx = await createServiceContext(config, testLogger(), createMetrics(new Registry(), { defaultMetrics: false }));

  // The intake stands in for the controller: it records every result exactly as the controller's worker receives it.
  const received: CheckResult[] = [];
  const malformed: string[] = [];
  intake = new Worker(
    RESULTS_QUEUE,
    async (job) => {
      for (const r of resultsOf(job.data)) {
        const parsed = parseCheckResult(r);
        if (typeof parsed === 'string') malformed.push(parsed);
        else received.push(parsed);
      }
    },
    { connection: ctx.bullConnection, prefix: keys(config.redis.prefix).bull, concurrency: 4 },
  );

  // Two checker processes of one vantage, started from the built service with the same config, as users deploy
  // them; each serves its own /metrics (METRICS_LISTEN), which answers once its checker has started.
  const ports = [await freePort(), await freePort()];
  for (const port of ports) checkers.push(spawnService('checker', configFile, { LOG_LEVEL: 'warn', LOG_FORMAT: 'json', METRICS_LISTEN: `127.0.0.1:${port}` }));
  await waitFor(async () => (await Promise.all(ports.map((p) => scrape(p).then(() => true, () => false)))).every(Boolean), {
    timeoutMs: 30_000,
    intervalMs: 100,
    what: `both checker processes serving metrics:\n${checkers.map((c) => c.output()).join('\n')}`,
  });
  const t0 = Date.now();
  await sleep(WARMUP_MS + RUN_MS);
  // Probes each process started (its lag histogram counts every start); read before the stop, when /metrics closes.
  const perChecker = await Promise.all(ports.map(async (p) => sumOf(await scrape(p), 'failover_check_lag_seconds_count')));
  const skippedText = await Promise.all(ports.map(scrape));
  // The end of the run is when the checkers are told to stop: slots due while they wind down are not owed.
  const t1 = Date.now();
  await Promise.all(checkers.map((c) => c.stop()));
  for (const c of checkers) expect(await c.exited).toEqual({ code: 0, signal: null });
  // The checkers flushed their last batches on stop; HAProxy may still write its last log lines. Wait until the
  // intake holds as many results as the target saw requests, or stops growing.
  let last = -1;
  for (let i = 0; i < 50; i++) {
    const atTarget = [...requestsAtTarget(logFile).values()].reduce((a, b) => a + b, 0);
    if (received.length === atTarget && received.length === last) break;
    last = received.length;
    await sleep(200);
  }

  // Every check is due at a fixed phase of its interval (its shard's scheduler offset plus its place in the shard),
  // so the due slot a result belongs to follows from its start time: two results in one slot are a duplicate.
  const phase = new Map<string, number>();
  const urlIndex = new Map<string, string>();
  const planned = config.portals.flatMap((p) =>
    p.sites.flatMap((s) => s.checks.map((c, i) => ({ id: `${p.id}.${s.name}.${checkName(c, i)}`, portal: p.id, site: s.name, check: checkName(c, i), config: c, readiness: false }))),
  );
  for (const c of planned) if (c.config.type === 'http') urlIndex.set(c.id, /\?c=(\d+)/.exec(c.config.url)![1]);
  for (const shard of planShards(planned, config.checker.shardSize)) {
    shard.checks.forEach((c, i) => phase.set(c.id, checkDueAt(shard, shard.offset, i) % INTERVAL));
  }
  const slots = new Map<string, Set<number>>();
  const resultsPerUrl = new Map<string, number>();
  let duplicates = 0;
  const dupes: string[] = [];
  for (const r of received) {
    const id = `${r.portal}.${r.site}.${r.check}`;
    const n = urlIndex.get(id) ?? `unknown ${id}`;
    resultsPerUrl.set(n, (resultsPerUrl.get(n) ?? 0) + 1);
    const slot = Math.floor((r.at - phase.get(id)!) / INTERVAL);
    const seen = slots.get(id) ?? new Set<number>();
    if (seen.has(slot)) {
      duplicates++;
      if (dupes.length < 5) dupes.push(`${id} slot ${slot} again at ${r.at} (phase ${phase.get(id)})`);
    }
    seen.add(slot);
    slots.set(id, seen);
  }

  // Coverage: every slot of every check whose due time lies in the steady part of the run.
  const from = t0 + WARMUP_MS;
  const to = t1 - EDGE_MS;
  let due = 0;
  let ran = 0;
  const bySecond: [number, number][] = [];
  for (const [id, ph] of phase) {
    const seen = slots.get(id);
    for (let slot = Math.ceil((from - ph) / INTERVAL); slot * INTERVAL + ph < to; slot++) {
      due++;
      const sec = Math.floor((slot * INTERVAL + ph - t0) / 1000);
      const b = (bySecond[sec] ??= [0, 0]);
      b[1]++;
      if (seen?.has(slot)) {
        ran++;
        b[0]++;
      }
    }
  }
  const atTarget = requestsAtTarget(logFile);
  const requests = [...atTarget.values()].reduce((a, b) => a + b, 0);
  const mismatched = [...new Set([...atTarget.keys(), ...resultsPerUrl.keys()])].filter((n) => atTarget.get(n) !== resultsPerUrl.get(n));
  const skipped = skippedText.map((t) => sumOf(t, 'failover_checks_skipped_total'));
  // Printed, not asserted: wall-clock figures depend on the machine's load.
  console.log(
    `throughput (two processes): ${received.length} results, ${requests} requests at the target in ${((t1 - t0) / 1000).toFixed(1)} s (first ${WARMUP_MS / 1000} s not counted); ` +
      `steady window ${ran}/${due} due (${((100 * ran) / due).toFixed(2)} %), skipped ${skipped.join('/')}, checks ${slots.size}, ` +
      `duplicates ${duplicates}, probes started per process ${perChecker.join('/')}`,
  );
  console.log(`ran per second of the run: ${bySecond.map((b, i) => (b ? `${i}:${((100 * b[0]) / b[1]).toFixed(0)}%` : '')).filter(Boolean).join(' ')}; skipped by reason ${skippedText.map((t) => t.split('\n').filter((l) => l.startsWith('failover_checks_skipped_total{')).join(', ')).join(' | ')}`);
  if (dupes.length) console.log(`duplicates:\n${dupes.join('\n')}`);
  expect(malformed).toEqual([]);
  // No result lost or invented: every request the target saw produced exactly one result of its check, and every
  // result came from a request the target saw (a probe that never reached the target would show here too).
  expect(mismatched.slice(0, 5).map((n) => `c=${n}: ${atTarget.get(n) ?? 0} requests, ${resultsPerUrl.get(n) ?? 0} results`)).toEqual([]);
  expect(received.length).toBe(requests);
  expect(duplicates).toBe(0);
  expect(slots.size).toBe(2 * PORTALS);
  expect(ran / due).toBeGreaterThanOrEqual(0.99);
  // Both processes took part: the shards were shared, not all run by whichever started first. How evenly is up to
  // BullMQ, which gives a due job to whichever worker fetches first: the smaller share was 6-44 % across runs, so
  // the bound is low and the split is printed above; fair shares by design are not built yet (see the README).
  const started = perChecker.reduce((a, b) => a + b, 0);
  for (const n of perChecker) expect(n).toBeGreaterThan(started / 50);
});
