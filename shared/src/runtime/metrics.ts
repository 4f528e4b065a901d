// Long because it is the metric contract in one place: every family's name, help and labels (dashboards and alerts
// use them), and how the exposition is rendered at a leader's size.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type MetricObject, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import type { ServerResponse } from 'node:http';
import { buildIdentity } from './build-identity';
import { CompactFamily, escapeValue, familyPieces, joinText } from './compact-family';

/** Seconds from 5 ms to 10 s: a probe, its lag behind its due time, a call to a provider. */
const SHORT_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10];

/**
 * The metric names are a contract (dashboards and alerts use them). They live in a registry the caller creates,
 * so tests and the all-in-one process never fight over global state.
 */
export function createMetrics(registry = new Registry(), opts: { defaultMetrics?: boolean } = {}) {
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const families: CompactFamily<string>[] = [];
  const metrics = {
    registry,
    /** The labelled families of one series or more per portal or check, kept compactly (compact-family.ts); rendered with the registry's. */
    families,
    /** Processes whose checker metrics this one serves as its own: the checker the all-in-one forks (checker.childProcess). */
    children: [] as ChildMetrics[],
    checkUp: new CompactFamily({
      name: 'failover_check_up',
      help: '1 when the newest probe of this check from this vantage passed, 0 when it failed',
      labelNames: ['portal', 'site', 'check', 'vantage'] as const,
      type: 'gauge',
      families,
    }),
    checkDuration: new Histogram({
      name: 'failover_check_duration_seconds',
      help: 'Duration of one probe',
      labelNames: ['portal', 'site', 'check', 'vantage'] as const,
      buckets: SHORT_SECONDS,
      registers,
    }),
    resultsRejected: new Counter({
      name: 'failover_results_rejected_total',
      help: 'Check results the controller refused: undeclared vantage, unsigned, bad signature, future-dated, replayed, expired or malformed',
      labelNames: ['reason'] as const,
      registers,
    }),
    recordsInvalid: new Counter({
      name: 'failover_records_invalid_total',
      help: 'Stored records (state, operation, switchover request, freeze, acknowledgement) read back from Redis that did not parse and were read as absent',
      labelNames: ['record'] as const,
      registers,
    }),
    checkLag: new Histogram({
      name: 'failover_check_lag_seconds',
      help: 'From the time a probe was due to the time it started, per vantage',
      labelNames: ['vantage'] as const,
      buckets: SHORT_SECONDS,
      registers,
    }),
    checksSkipped: new Counter({
      name: 'failover_checks_skipped_total',
      help: 'Due probes that did not run or whose result never left the checker, by reason (late, overlap, unknown_shard, unsent)',
      labelNames: ['vantage', 'reason'] as const,
      registers,
    }),
    vantageCheckDuration: new Histogram({
      name: 'failover_vantage_check_duration_seconds',
      help: 'Duration of one probe, per vantage (always on; the per-check histogram is optional)',
      labelNames: ['vantage'] as const,
      buckets: SHORT_SECONDS,
      registers,
    }),
    checkFailures: new CompactFamily({
      name: 'failover_check_failures_total',
      help: 'Failed probes by reason (timeout, refused, status, content, ...)',
      labelNames: ['portal', 'site', 'check', 'vantage', 'reason'] as const,
      type: 'counter',
      families,
    }),
    tlsCertExpiry: new CompactFamily({
      name: 'failover_tls_cert_expiry_timestamp_seconds',
      help: 'Unix time at which the TLS certificate seen by the newest probe of this check expires',
      labelNames: ['portal', 'site', 'check'] as const,
      type: 'gauge',
      families,
    }),
    siteHealthy: new CompactFamily({
      name: 'failover_site_healthy',
      help: '1 when the site is up by quorum, 0 when down by quorum, -1 when unknown',
      labelNames: ['portal', 'site'] as const,
      type: 'gauge',
      families,
    }),
    siteReady: new CompactFamily({
      name: 'failover_site_ready',
      help: '1 when the site passes its readiness checks (or has none) and may become the switch target, 0 when not',
      labelNames: ['portal', 'site'] as const,
      type: 'gauge',
      families,
    }),
    activeSite: new CompactFamily({
      name: 'failover_active_site',
      help: '1 for the site that currently receives the portal traffic',
      labelNames: ['portal', 'site'] as const,
      type: 'gauge',
      families,
    }),
    portalPhase: new CompactFamily({
      name: 'failover_portal_phase',
      help: '1 for the current phase of the portal',
      labelNames: ['portal', 'phase'] as const,
      type: 'gauge',
      families,
    }),
    switchovers: new CompactFamily({
      name: 'failover_switchovers_total',
      help: 'Finished switch operations',
      labelNames: ['portal', 'from', 'to', 'trigger', 'result'] as const,
      type: 'counter',
      families,
    }),
    switchDuration: new Histogram({
      name: 'failover_switch_duration_seconds',
      help: 'From the decision to the last traffic step verified',
      labelNames: ['portal', 'trigger'] as const,
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
      registers,
    }),
    detection: new Histogram({
      name: 'failover_detection_seconds',
      help: 'From the first failed check of the streak to the decision to switch',
      labelNames: ['portal'] as const,
      buckets: [0.5, 1, 2, 3, 5, 10, 15, 30, 60, 120],
      registers,
    }),
    automationFrozen: new CompactFamily({
      name: 'failover_automation_frozen',
      help: '1 while automatic switching is frozen for the portal',
      labelNames: ['portal'] as const,
      type: 'gauge',
      families,
    }),
    queueJobs: new Gauge({
      name: 'failover_queue_jobs',
      help: 'Jobs in the BullMQ queues by state',
      labelNames: ['queue', 'state'] as const,
      registers,
    }),
    drillLastSuccess: new CompactFamily({
      name: 'failover_drill_last_success_timestamp_seconds',
      help: 'Unix time of the last successful drill of the portal in this mode',
      labelNames: ['portal', 'mode'] as const,
      type: 'gauge',
      families,
    }),
    auditEntries: new Gauge({
      name: 'failover_audit_entries',
      help: 'Entries in the audit stream, read by the leader controller (at most every 30 s)',
      registers,
    }),
    auditWitnessFailures: new Counter({
      name: 'failover_audit_witness_failures_total',
      help: 'Failed attempts to deliver a signed audit checkpoint to a witness (URL without query, or file path)',
      labelNames: ['witness'] as const,
      registers,
    }),
    auditMaxEntries: new Gauge({
      name: 'failover_audit_max_entries',
      help: 'The configured audit.maxEntries size cap, beyond which the oldest audit entries are trimmed',
      registers,
    }),
    redisMemoryUsed: new Gauge({
      name: 'failover_redis_memory_used_bytes',
      help: 'Redis used_memory (INFO memory), read by the API at scrape time; 0 in processes that do not read it',
      registers,
    }),
    redisMaxMemory: new Gauge({
      name: 'failover_redis_maxmemory_bytes',
      help: 'Redis maxmemory (0: no limit), read by the API at scrape time; with noeviction a full Redis stops failovers',
      registers,
    }),
    controllerLeader: new Gauge({
      name: 'failover_controller_leader',
      help: '1 when this controller process holds the leader lease',
      registers,
    }),
    buildInfo: new Gauge({
      name: 'failover_build_info',
      help: 'Always 1; the labels say which version and commit this process runs',
      labelNames: ['version', 'commit'] as const,
      registers,
    }),
    lastSwitch: new CompactFamily({
      name: 'failover_last_switch_timestamp_seconds',
      help: 'Unix time at which the last successful switch of the portal was verified',
      labelNames: ['portal'] as const,
      type: 'gauge',
      families,
    }),
    propagation: new Histogram({
      name: 'failover_propagation_seconds',
      help: 'From a DNS step applied to the nameserver serving its new answer (verify.nameservers or the zone NS)',
      labelNames: ['portal', 'server'] as const,
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
      registers,
    }),
    riskWindowInForce: new CompactFamily({
      name: 'failover_risk_window_in_force',
      help: '1 from a risk window\'s start minus its leadTime until its end (TTLs lowered, probes faster), 0 otherwise; leader only',
      labelNames: ['portal', 'window'] as const,
      type: 'gauge',
      families,
    }),
    dnsTtlLowered: new CompactFamily({
      name: 'failover_dns_ttl_lowered_seconds',
      help: 'The TTL every DNS step of the portal holds for a risk window, verified by reading it back; 0 when the configured TTLs apply; leader only',
      labelNames: ['portal'] as const,
      type: 'gauge',
      families,
    }),
    propagationLagging: new CompactFamily({
      name: 'failover_propagation_lagging_total',
      help: 'Nameservers that did not serve a DNS step\'s new answer within verify.timeout',
      labelNames: ['portal', 'server'] as const,
      type: 'counter',
      families,
    }),
    providerRequestDuration: new Histogram({
      name: 'failover_provider_request_duration_seconds',
      help: 'Duration of one call to a traffic provider (read, apply, verify) by outcome (ok, error)',
      labelNames: ['kind', 'operation', 'outcome'] as const,
      buckets: SHORT_SECONDS,
      registers,
    }),
    schedulersRecreated: new Counter({
      name: 'failover_checker_schedulers_recreated_total',
      help: 'BullMQ job schedulers a checker found missing (Redis lost them) and recreated',
      labelNames: ['vantage'] as const,
      registers,
    }),
    redisUp: new Gauge({
      name: 'failover_redis_up',
      help: '1 when this process got an answer from Redis within the scrape deadline, 0 when not',
      registers,
    }),
    queueMetricsStale: new Gauge({
      name: 'failover_queue_metrics_stale',
      help: '1 when the last read of the queue figures failed or timed out, so failover_queue_jobs shows the last good read',
      registers,
    }),
    trafficInSync: new CompactFamily({
      name: 'failover_traffic_in_sync',
      help: '1 when the traffic step points at the recorded active site, 0 when it points elsewhere (drift), -1 when it could not be read',
      labelNames: ['portal', 'step'] as const,
      type: 'gauge',
      families,
    }),
    queueOldestWaiting: new Gauge({
      name: 'failover_queue_oldest_waiting_seconds',
      help: 'Age of the oldest waiting job of the BullMQ queue (0 when none waits), read from Redis at scrape time',
      labelNames: ['queue'] as const,
      registers,
    }),
  };
  const build = buildIdentity();
  metrics.buildInfo.set({ version: build.version, commit: build.commit }, 1);
  return metrics;
}

export type Metrics = ReturnType<typeof createMetrics>;

/** The checker's metric families, as exposition text, from the process that runs it. */
export type ChildMetrics = () => Promise<string>;

/** The families a checker sets; a process whose checker runs elsewhere serves the checker process's instead. */
export const CHECKER_FAMILIES: ReadonlySet<string> = new Set([
  'failover_check_up',
  'failover_check_duration_seconds',
  'failover_vantage_check_duration_seconds',
  'failover_check_failures_total',
  'failover_tls_cert_expiry_timestamp_seconds',
  'failover_check_lag_seconds',
  'failover_checks_skipped_total',
  'failover_checker_schedulers_recreated_total',
]);

/** One family's exposition text: whole, or in pieces rendered a turn of the event loop apart. */
type FamilyText = string | AsyncIterable<string>;

/**
 * The families' exposition text, a family at a time. Families that read something at scrape time (a `collect`:
 * Redis, queues, process figures) start together, so a paused Redis costs one timeout, not one per family. The
 * others are only rendered, SERIES_PER_TURN series per turn of the event loop: a leader of 12,500 portals exports
 * about 440,000 series (38 MB of text), and rendering them in one go held its event loop (and the check results
 * waiting for it) for about a second at every scrape.
 */
async function* ownFamilies(metrics: Pick<Metrics, 'registry' | 'families'>, keep: (name: string) => boolean): AsyncGenerator<FamilyText> {
  const registry = metrics.registry;
  const pace = pacer();
  const families = registry.getMetricsAsArray().filter((m): m is MetricObject & RegisteredMetric => isRegistered(m) && keep(m.name));
  const collected = (m: RegisteredMetric) => typeof m.collect === 'function';
  const reading = new Map(families.filter(collected).map((m) => [m.name, registry.getSingleMetricAsString(m.name)]));
  // A reading that fails before its turn comes (or after a client went away) is not an unhandled rejection.
  for (const r of reading.values()) r.catch(() => undefined);
  for (const m of families) {
    const pending = reading.get(m.name);
    if (pending) yield await pending;
    else if (String(m.type) === 'counter' || String(m.type) === 'gauge') yield flatFamilyText(m, pace);
    else {
      const text = await registry.getSingleMetricAsString(m.name);
      yield text;
      await pace(lineCount(text));
    }
  }
  for (const f of metrics.families) if (keep(f.name)) yield f.chunks(pace, SERIES_PER_TURN);
}

function textOf(family: FamilyText): Promise<string> {
  return typeof family === 'string' ? Promise.resolve(family) : joinText(family);
}

/** What a registered metric is besides its description (prom-client's typings list only the description). */
interface RegisteredMetric {
  collect?: unknown;
  get(): Promise<MetricObjectWithValues<MetricValue<string>>>;
}

function isRegistered(m: MetricObject): m is MetricObject & RegisteredMetric {
  return typeof (m as Partial<RegisteredMetric>).get === 'function';
}

const turn = () => new Promise((r) => setImmediate(r));
/** Series rendered between two turns of the event loop. */
const SERIES_PER_TURN = 20_000;

/**
 * Hands back to the event loop once SERIES_PER_TURN series were rendered since it last did. Counting series, not
 * families: a turn per family made a busy checker process (a dozen small families, each turn queued behind its
 * probes' callbacks) answer its parent's scrape in seconds.
 */
function pacer(): (series: number) => Promise<void> {
  let since = 0;
  return async (series) => {
    since += series;
    if (since < SERIES_PER_TURN) return;
    since = 0;
    await turn();
  };
}

function lineCount(text: string): number {
  let n = 1;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) n++;
  return n;
}


/**
 * A counter or gauge of prom-client without a collect function, rendered exactly as prom-client renders it (the
 * test compares them) but SERIES_PER_TURN series at a time.
 */
async function* flatFamilyText(m: MetricObject & RegisteredMetric, pace: (series: number) => Promise<void>): AsyncGenerator<string> {
  const data = await m.get();
  const series = data.values.map((v): [string, number] => [Object.entries(v.labels).map(([k, x]) => `${k}="${escapeValue(String(x))}"`).join(','), v.value]);
  yield* familyPieces({ name: data.name, help: data.help, type: String(data.type) }, series, pace, SERIES_PER_TURN);
}

/** What a checker process sends its parent: its checker families as text (cheap to pass over IPC, no merging). */
export async function checkerFamiliesText(m: Pick<Metrics, 'registry' | 'families'>): Promise<string> {
  const out: string[] = [];
  for await (const family of ownFamilies(m, (n) => CHECKER_FAMILIES.has(n))) out.push(await textOf(family));
  return out.join('\n');
}

/**
 * The text /metrics serves, in pieces of at most SERIES_PER_TURN series, so that a scrape is written out as it is
 * rendered instead of being held whole. Where the checker runs in a child process, its families come from the
 * child (asked for at once, so it answers while this process renders its own) and this process's (empty) ones are
 * left out, so each family appears once; the rest (process figures, Redis, controller) are this process's. A child
 * that does not answer leaves its families out: absent checker series are what the alerts on a silent checker look for.
 */
export async function* metricsChunks(m: Pick<Metrics, 'registry' | 'families' | 'children'>): AsyncGenerator<string> {
  const children = m.children.length ? Promise.all(m.children.map((c) => c().catch(() => ''))) : undefined;
  // prom-client's spacing: a blank line between two families of one registry, none before a child's text.
  const between = children ? '\n' : '\n\n';
  let first = true;
  for await (const family of ownFamilies(m, (n) => !children || !CHECKER_FAMILIES.has(n))) {
    if (!first) yield between;
    first = false;
    if (typeof family === 'string') yield family;
    else yield* family;
  }
  for (const text of (await children) ?? []) {
    if (!text) continue;
    if (!first) yield '\n';
    first = false;
    yield text;
  }
  yield '\n';
}

/** The whole text /metrics serves (metricsChunks joined). */
export function metricsText(m: Pick<Metrics, 'registry' | 'families' | 'children'>): Promise<string> {
  return joinText(metricsChunks(m));
}

/**
 * Writes metricsChunks to an HTTP response as they are rendered, waiting for the client to take each piece: a
 * scrape holds a piece in this process, not the whole text. A client gone mid-scrape ends the rendering. A family
 * that fails once the status line is out breaks the connection, so Prometheus records a failed scrape rather than
 * a short one that looks whole.
 */
export async function sendMetrics(m: Pick<Metrics, 'registry' | 'families' | 'children'>, res: ServerResponse): Promise<void> {
  const chunks = metricsChunks(m);
  // The first piece before the status line: a scrape that cannot start is an error response, not a 200.
  const first = await chunks.next();
  res.writeHead(200, { 'content-type': m.registry.contentType });
  try {
    if (!first.done) res.write(first.value);
    for await (const piece of chunks) {
      if (res.destroyed) return;
      if (!res.write(piece)) await drained(res);
    }
    res.end();
  } catch (err) {
    res.destroy(err as Error);
  }
}

function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
