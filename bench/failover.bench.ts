// Over 350 lines on purpose: one benchmark script that sets up both contenders (portal-failover and PowerDNS's LUA
// record) on the same simulated sites and PowerDNS, runs the same cuts against each and prints one table; split up, its
// set-up and teardown would have to be shared across files for no reader's benefit.
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import {
  createLogger,
  createMetrics,
  createRedis,
  keys,
  parseConfig,
  StateStore,
  type Config,
  type Logger,
  type Operation,
} from '@portal-failover/shared';
import { startAllInOne, type AllInOne } from '../cli/src/all-in-one';
import { mulberry32, SimSite, type SiteMode } from '../cli/src/demo/sim-site';
import { errorMessage, waitFor } from '../test/support/free-port';
import { createZone, pdnsRequest, queryA, replaceRRsets, startPowerDns, type PowerDnsServer } from '../test/support/powerdns-server';
import { startRedis, type RedisServer } from '../test/support/redis-server';
import { summaryRow, table, intEnv } from './stats';

/**
 * `npm run bench:failover`: portal-failover and PowerDNS's own health-checked LUA record, side by side on the same
 * simulated sites and the same PowerDNS, measured where a resolver would ask (the authoritative DNS answer).
 */


const S = {
  trials: intEnv('BENCH_TRIALS', 10),
  flapSeconds: intEnv('BENCH_FLAP_SECONDS', 60),
  checkIntervalMs: 1000,
  checkTimeoutMs: 500,
  failureThreshold: 2,
  recoveryThreshold: 2,
  luaHealthChecksInterval: 1,
  cutPollMs: 50,
  flapPollMs: 100,
  /** Both answers must sit on the primary this long before a cut, i.e. two LUA check rounds. */
  stableMs: 2000,
  /** A trial whose answer has not moved by then is reported as timed out rather than hanging the run. */
  trialTimeoutMs: 30_000,
  jitterSeed: 1,
  randomSeed: 20200716,
  failRate: 0.3,
};

const PORTAL = 'bench';
// Documentation ranges: answers only, never contacted (ifurlextup checks the URLs, not these addresses).
const PRIMARY = '192.0.2.10';
const STANDBY = '198.51.100.20';

const abort = new AbortController();
const sleep = (ms: number): Promise<void> => delay(ms, undefined, { signal: abort.signal });
const progress = (line: string): void => void process.stderr.write(`${line}\n`);

interface Lab {
  pdns: PowerDnsServer;
  redis: RedisServer;
  redisClient: Redis;
  logger: Logger;
  zone: string;
  www: string;
  lua: string;
  flapLua: string;
  primary: SimSite;
  standby: SimSite;
  /** Flap runs give each system its own primary; see flapNote for why. */
  pfFlap: SimSite;
  luaFlap: SimSite;
}

function luaContent(primaryUrl: string, standbyUrl: string): string {
  return `A "ifurlextup({{['${PRIMARY}']='${primaryUrl}'}, {['${STANDBY}']='${standbyUrl}'}})"`;
}

/** The answer as one comparable string; a failed query is its own value so it never passes for an address. */
async function answer(lab: Lab, name: string): Promise<string> {
  try {
    return (await queryA(lab.pdns.dnsHost, lab.pdns.dnsPort, name)).sort().join(',');
  } catch (err) {
    return `error:${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`;
  }
}

function portalConfig(lab: Lab, prefix: string, primaryUrl: string): Config {
  const check = (url: string) => ({
    type: 'http',
    url,
    interval: `${S.checkIntervalMs}ms`,
    timeout: `${S.checkTimeoutMs}ms`,
    expect: { status: [200], bodyIncludes: ['Cổng dịch vụ công'], bodyExcludes: ['suspended', 'tạm ngưng'] },
  });
  const raw = {
    redis: { url: lab.redis.url, prefix },
    api: { listen: '127.0.0.1:0' },
    checker: { vantage: 'bench', concurrency: 8 },
    controller: { leaseTtl: '3s', renewEvery: '1s', evaluateEvery: '250ms', stepAttempts: 3, stepBackoff: '200ms' },
    portals: [
      {
        id: PORTAL,
        name: 'Benchmark portal',
        policy: { failureThreshold: S.failureThreshold, recoveryThreshold: S.recoveryThreshold, quorum: 1, cooldown: '10m' },
        sites: [
          { name: 'primary', provider: 'hosting-a', routing: { address: PRIMARY }, checks: [check(primaryUrl)] },
          { name: 'standby', provider: 'hosting-b', routing: { address: STANDBY }, checks: [check(lab.standby.url)] },
        ],
        traffic: [{ kind: 'powerdns', apiUrl: lab.pdns.apiUrl, apiKey: '${BENCH_PDNS_API_KEY}', zone: lab.zone, record: lab.www, type: 'A', ttl: 30, timeout: '1s' }],
      },
    ],
  };
  // Only the key is passed, so a REDIS_URL or similar in the caller's environment cannot redirect the bench.
  return parseConfig(raw, 'bench', { BENCH_PDNS_API_KEY: lab.pdns.apiKey });
}

interface Portal {
  app: AllInOne;
  store: StateStore;
}

/**
 * portal-failover never fails back by itself, so each trial gets a brand-new portal: the record is put back on the
 * primary through the PowerDNS API, and a new all-in-one stack starts on a fresh Redis prefix (no state, no
 * operations, no cooldown) exactly as a first install would.
 */
async function startPortal(lab: Lab, label: string, primaryUrl: string): Promise<Portal> {
  await replaceRRsets(lab.pdns, lab.zone, [{ name: lab.www, type: 'A', ttl: 30, records: [PRIMARY] }]);
  const prefix = `bench-${label}-${randomBytes(3).toString('hex')}`;
  const app = await startAllInOne(portalConfig(lab, prefix, primaryUrl), lab.logger, createMetrics(undefined, { defaultMetrics: false }));
  try {
    await waitFor(() => app.controller.state(PORTAL)?.phase === 'healthy', {
      what: `portal-failover (${label}) to see both sites healthy`,
      timeoutMs: 20_000,
      signal: abort.signal,
    });
  } catch (err) {
    await app.stop();
    throw err;
  }
  return { app, store: new StateStore(lab.redisClient, keys(prefix)) };
}

async function waitStable(lab: Lab, names: string[], expected: string): Promise<void> {
  let since: number | undefined;
  await waitFor(
    async () => {
      const all = await Promise.all(names.map((n) => answer(lab, n)));
      if (!all.every((a) => a === expected)) since = undefined;
      else since ??= Date.now();
      return since !== undefined && Date.now() - since >= S.stableMs;
    },
    { what: `${names.join(' and ')} to answer ${expected} steadily`, timeoutMs: 30_000, intervalMs: 100, signal: abort.signal },
  );
}

interface Trial {
  pfAnswerMs?: number;
  luaAnswerMs?: number;
  cutToDecisionMs?: number;
  decisionToVerifiedMs?: number;
  detectionMs?: number;
  opStatus: string;
}

async function runTrial(lab: Lab, index: number, jitter: () => number): Promise<Trial> {
  const pf = await startPortal(lab, `t${index}`, lab.primary.url);
  try {
    await waitStable(lab, [lab.www, lab.lua], PRIMARY);
    // Probes run on a wall-clock grid (BullMQ every=1s) and pdns checks on its own 1 s loop; a random offset
    // spreads the cut over the whole interval instead of whatever phase the setup happened to end on.
    await sleep(Math.floor(jitter() * S.checkIntervalMs));
    const cutAt = Date.now();
    await lab.primary.setMode({ kind: 'refuse' });

    const t: Trial = { opStatus: 'none' };
    const deadline = cutAt + S.trialTimeoutMs;
    while ((t.pfAnswerMs === undefined || t.luaAnswerMs === undefined) && Date.now() < deadline) {
      const sentAt = Date.now();
      const [www, lua] = await Promise.all([answer(lab, lab.www), answer(lab, lab.lua)]);
      if (t.pfAnswerMs === undefined && www === STANDBY) t.pfAnswerMs = sentAt - cutAt;
      if (t.luaAnswerMs === undefined && lua === STANDBY) t.luaAnswerMs = sentAt - cutAt;
      await sleep(Math.max(0, S.cutPollMs - (Date.now() - sentAt)));
    }

    // The answer changes when the PATCH lands; the operation finishes only after the read-back, a moment later.
    const op = await waitFor(
      async () => (await pf.store.recentOperations(PORTAL, 5)).find((o: Operation) => o.to === 'standby' && o.status !== 'running'),
      { what: 'the failover operation to finish', timeoutMs: t.pfAnswerMs === undefined ? 1000 : 15_000, signal: abort.signal },
    ).catch(() => undefined);
    if (op) {
      t.opStatus = op.status;
      t.cutToDecisionMs = op.decidedAt - cutAt;
      if (op.detectedAt !== undefined) t.detectionMs = op.decidedAt - op.detectedAt;
      if (op.status === 'succeeded' && op.finishedAt !== undefined) t.decisionToVerifiedMs = op.finishedAt - op.decidedAt;
    }
    return t;
  } finally {
    try {
      await pf.app.stop();
    } finally {
      await lab.primary.setMode({ kind: 'ok' });
    }
  }
}

interface FlapSide {
  flips: number;
  /** Seconds into the window of each answer change, for the pf side where there are few. */
  changesAt: number[];
  probes: number;
  queryErrors: number;
  final: string;
}

interface Flap {
  kind: 'alternate' | 'random';
  pf: FlapSide;
  lua: FlapSide;
  pfPhase: string;
}

async function runFlap(lab: Lab, kind: Flap['kind']): Promise<Flap> {
  const pf = await startPortal(lab, `flap-${kind}`, lab.pfFlap.url);
  try {
    await waitStable(lab, [lab.www, lab.flapLua], PRIMARY);
    const mode: SiteMode = kind === 'alternate' ? { kind: 'alternate' } : { kind: 'random', failRate: S.failRate, seed: S.randomSeed };
    const side = (): FlapSide => ({ flips: 0, changesAt: [], probes: 0, queryErrors: 0, final: PRIMARY });
    const r: Flap = { kind, pf: side(), lua: side(), pfPhase: '' };
    const before = { pf: lab.pfFlap.requests, lua: lab.luaFlap.requests };
    // Same mode and seed on both primaries, so both checkers are served the same sequence of outcomes.
    await Promise.all([lab.pfFlap.setMode(mode), lab.luaFlap.setMode(mode)]);
    const start = Date.now();
    const end = start + S.flapSeconds * 1000;
    const note = (s: FlapSide, value: string, at: number) => {
      if (value.startsWith('error:')) s.queryErrors++;
      else if (value !== s.final) {
        s.flips++;
        s.changesAt.push((at - start) / 1000);
        s.final = value;
      }
    };
    while (Date.now() < end) {
      const sentAt = Date.now();
      const [www, lua] = await Promise.all([answer(lab, lab.www), answer(lab, lab.flapLua)]);
      note(r.pf, www, sentAt);
      note(r.lua, lua, sentAt);
      await sleep(Math.max(0, Math.min(S.flapPollMs - (Date.now() - sentAt), end - Date.now())));
    }
    r.pf.probes = lab.pfFlap.requests - before.pf;
    r.lua.probes = lab.luaFlap.requests - before.lua;
    r.pfPhase = pf.app.controller.state(PORTAL)?.phase ?? 'unknown';
    return r;
  } finally {
    try {
      await pf.app.stop();
    } finally {
      await Promise.all([lab.pfFlap.setMode({ kind: 'ok' }), lab.luaFlap.setMode({ kind: 'ok' })]);
    }
  }
}

const sec = (ms: number | undefined) => (ms === undefined ? '-' : (ms / 1000).toFixed(2));
const defined = (xs: (number | undefined)[]) => xs.filter((x): x is number => x !== undefined).map((x) => x / 1000);

function report(lab: Lab, versions: { pdns: string; redis: string }, trials: Trial[], flaps: Flap[]): string {
  const cpu = os.cpus()[0]?.model.trim() ?? 'unknown CPU';
  const out: string[] = [];
  out.push('portal-failover vs PowerDNS LUA ifurlextup: failover benchmark (npm run bench:failover)');
  out.push('');
  out.push(
    `machine: nproc ${os.availableParallelism()} (${cpu}), ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM, ` +
      `${os.type()} ${os.release()}, node ${process.version}, PowerDNS ${versions.pdns}, Redis ${versions.redis}`,
  );
  out.push(
    `settings: checks every ${S.checkIntervalMs / 1000} s, timeout ${S.checkTimeoutMs} ms, failureThreshold ${S.failureThreshold}, ` +
      `recoveryThreshold ${S.recoveryThreshold}, quorum 1, 1 vantage, cooldown 10m, autoFailback off, controller evaluateEvery 250ms; ` +
      `PowerDNS lua-health-checks-interval=${S.luaHealthChecksInterval}, ifurlextup default options (2 s timeout, no hysteresis)`,
  );
  out.push(
    `method: everything on 127.0.0.1 (own redis-server, own pdns_server, simulated sites); the cut is SimSite.setMode refuse ` +
      `(connection refused) after both answers sat on the primary for ${S.stableMs / 1000} s plus a random 0-1 s offset ` +
      `(seed ${S.jitterSeed}); both records polled over DNS every ${S.cutPollMs} ms, so a time can read up to ${S.cutPollMs} ms late. ` +
      `Each trial starts a fresh portal-failover stack on a new Redis prefix with the A record put back on the primary ` +
      `(it never fails back by itself, by design); the LUA record fails back by itself when the primary is restored.`,
  );
  out.push(
    'definitions: cut→answer = cut to the first DNS answer naming the standby; decision→verified = operation decidedAt → finishedAt ' +
      '(PATCH applied and read back, = failover_switch_duration_seconds); detection = first failed probe → decision ' +
      '(= failover_detection_seconds); median interpolated, p95 nearest rank (with n <= 20 that is the max).',
  );
  out.push('');
  out.push(`Hard cut of the primary, ${trials.length} trials, seconds`);
  const miss = (f: (t: Trial) => number | undefined) => trials.filter((t) => f(t) === undefined).length;
  const rows: [string, (t: Trial) => number | undefined][] = [
    ['portal-failover cut→answer', (t) => t.pfAnswerMs],
    ['portal-failover cut→decision', (t) => t.cutToDecisionMs],
    ['portal-failover decision→verified', (t) => t.decisionToVerifiedMs],
    ['portal-failover detection', (t) => t.detectionMs],
    ['PowerDNS LUA cut→answer', (t) => t.luaAnswerMs],
  ];
  out.push(
    table(
      ['', 'n', 'min', 'median', 'p95', 'max'],
      rows.map(([label, f]) => summaryRow(label, defined(trials.map(f)), miss(f))),
    ),
  );
  out.push('');
  out.push('per trial (pf cut→answer / LUA cut→answer / pf decision→verified, s):');
  out.push(
    trials.map((t, i) => `  #${i + 1} ${sec(t.pfAnswerMs)} / ${sec(t.luaAnswerMs)} / ${sec(t.decisionToVerifiedMs)}${t.opStatus === 'succeeded' ? '' : ` (operation: ${t.opStatus})`}`).join('\n'),
  );
  const failedOps = trials.filter((t) => t.opStatus !== 'succeeded').length;
  if (failedOps) out.push(`  ${failedOps} trial(s) without a succeeded operation`);
  out.push('');
  out.push(`Flapping primary, ${S.flapSeconds} s per mode, answer flips (DNS polled every ${S.flapPollMs} ms)`);
  const mode = (f: Flap) => (f.kind === 'alternate' ? 'alternate (503/200 per probe)' : `random ${Math.round(S.failRate * 100)}% 503 (seed ${S.randomSeed})`);
  const pfCell = (f: Flap) => {
    const s = f.pf;
    const when = s.changesAt.length ? ` at ${s.changesAt.map((x) => `${x.toFixed(1)} s`).join(', ')}` : '';
    return `${s.flips}${when}`;
  };
  out.push(
    table(
      ['mode', 'portal-failover flips', 'PowerDNS LUA flips', 'probes pf/pdns', 'pf phase after'],
      flaps.map((f) => [mode(f), pfCell(f), String(f.lua.flips), `${f.pf.probes}/${f.lua.probes}`, f.pfPhase]),
    ),
  );
  const errs = flaps.reduce((n, f) => n + f.pf.queryErrors + f.lua.queryErrors, 0);
  if (errs) out.push(`  ${errs} DNS queries failed during the flap windows (not counted as flips)`);
  out.push(
    'flap note: SimSite counts alternate/random per request across all clients, so two checkers sharing one primary would ' +
      'split the sequence between them: their 1 s probes interleave, so one is served mostly 503s and the other mostly 200s ' +
      '(tried with alternate on a shared primary: the LUA record flipped once and stayed on the standby, portal-failover stayed ' +
      'healthy). In the flap runs ' +
      'each system therefore probes its own primary in the same mode with the same seed and so is served the same outcome ' +
      'sequence; the standby is shared. portal-failover does not fail back by itself, so at most one flip (to the standby) is expected.',
  );
  return out.join('\n');
}

async function setupLab(cleanups: (() => Promise<void>)[], logger: Logger): Promise<Lab> {
  const redis = await startRedis();
  cleanups.push(() => redis.stop());
  const pdns = await startPowerDns({ luaHealthChecksInterval: S.luaHealthChecksInterval });
  cleanups.push(() => pdns.stop());
  const redisClient = createRedis(redis.url, 'command');
  cleanups.push(async () => void (await redisClient.quit()));
  const sites = await Promise.all(['primary', 'standby', 'pf-flap', 'lua-flap'].map((n) => SimSite.start(n)));
  cleanups.push(async () => void (await Promise.allSettled(sites.map((s) => s.close()))));
  const [primary, standby, pfFlap, luaFlap] = sites;

  const zone = 'bench.portal-failover.test.';
  const lab: Lab = {
    pdns,
    redis,
    redisClient,
    logger,
    zone,
    www: `www.${zone}`,
    lua: `lua.${zone}`,
    flapLua: `flap-lua.${zone}`,
    primary,
    standby,
    pfFlap,
    luaFlap,
  };
  await createZone(pdns, zone, [
    { name: lab.www, type: 'A', ttl: 30, records: [PRIMARY] },
    { name: lab.lua, type: 'LUA', ttl: 30, records: [luaContent(primary.url, standby.url)] },
    { name: lab.flapLua, type: 'LUA', ttl: 30, records: [luaContent(luaFlap.url, standby.url)] },
  ]);
  // The first query registers the LUA health checks and answers a random candidate; later ones follow the checks.
  await Promise.all([answer(lab, lab.lua), answer(lab, lab.flapLua)]);
  await sleep(S.luaHealthChecksInterval * 1000 * 2 + 500);
  return lab;
}

async function versions(lab: Lab): Promise<{ pdns: string; redis: string }> {
  const server = (await pdnsRequest(lab.pdns, 'GET', '')) as { version?: string };
  const info = await lab.redisClient.info('server');
  return { pdns: server.version ?? '?', redis: /^redis_version:(\S+)/m.exec(info)?.[1] ?? '?' };
}

async function main(): Promise<number> {
  const logger = createLogger({ level: process.env.BENCH_LOG_LEVEL ?? 'error', format: 'pretty' });
  const cleanups: (() => Promise<void>)[] = [];
  const stopOn = (signal: NodeJS.Signals) => process.once(signal, () => abort.abort(new Error(`interrupted by ${signal}`)));
  stopOn('SIGINT');
  stopOn('SIGTERM');
  let code = 0;
  try {
    progress(`starting redis, PowerDNS and simulated sites (${S.trials} trials, ${S.flapSeconds} s per flap mode)`);
    const lab = await setupLab(cleanups, logger);
    const v = await versions(lab);
    const jitter = mulberry32(S.jitterSeed);
    const trials: Trial[] = [];
    for (let i = 1; i <= S.trials; i++) {
      const t = await runTrial(lab, i, jitter);
      trials.push(t);
      progress(`trial ${i}/${S.trials}: portal-failover ${sec(t.pfAnswerMs)} s (verified ${sec(t.decisionToVerifiedMs)} s after the decision), LUA ${sec(t.luaAnswerMs)} s`);
    }
    const flaps: Flap[] = [];
    for (const kind of ['alternate', 'random'] as const) {
      progress(`flap ${kind}: ${S.flapSeconds} s`);
      const f = await runFlap(lab, kind);
      flaps.push(f);
      progress(`flap ${kind}: portal-failover ${f.pf.flips} flips, LUA ${f.lua.flips} flips`);
    }
    process.stdout.write(`${report(lab, v, trials, flaps)}\n`);
  } catch (err) {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    code = 1;
  } finally {
    for (const c of cleanups.reverse()) {
      await c().catch((err: unknown) => progress(`cleanup: ${errorMessage(err)}`));
    }
  }
  return code;
}

void main().then((code) => {
  process.exitCode = code;
  // Everything was closed above; a stray handle (a BullMQ reconnect timer, say) must not keep the run alive.
  setTimeout(() => {
    progress('open handles remained after cleanup; exiting');
    process.exit(code);
  }, 5000).unref();
});
