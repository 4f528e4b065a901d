import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createMetrics } from '@portal-failover/shared';
import { Registry } from 'prom-client';
import { errorMessage, freePort, logTail, requireExecutable, spawnDaemon, waitFor, type Daemon } from '../support/free-port';

/** Paths of the deploy/ files under test, from the repository root. */
export const repoRoot = path.resolve(__dirname, '..', '..');
export const deployPath = (...parts: string[]): string => path.join(repoRoot, 'deploy', ...parts);

export const PROMETHEUS_INSTALL_HINT =
  'apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus prometheus-alertmanager ' +
  '(Debian 12: prometheus 2.42 with promtool, prometheus-alertmanager 0.25 with amtool)';

/** A missing binary fails the test with the install hint; nothing is skipped. */
export function tool(name: 'prometheus' | 'promtool' | 'prometheus-alertmanager' | 'amtool'): string {
  return requireExecutable(name, PROMETHEUS_INSTALL_HINT);
}

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
  /** stdout and stderr together, for assertion messages. */
  output: string;
}

export function run(command: string, args: string[], cwd = repoRoot): RunResult {
  const r = spawnSync(command, args, { cwd, encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, output: `$ ${path.basename(command)} ${args.join(' ')}\n${r.stdout}${r.stderr}` };
}

// ------------------------------------------------------------------ typed access to parsed YAML/JSON

export type Obj = Record<string, unknown>;

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The object at `v`, or a failure naming `what` (so a missing key reads as a test failure, not a TypeError). */
export function obj(v: unknown, what: string): Obj {
  if (!isObj(v)) throw new Error(`${what}: expected a mapping, got ${JSON.stringify(v)}`);
  return v;
}

export function arr(v: unknown, what: string): unknown[] {
  if (!Array.isArray(v)) throw new Error(`${what}: expected a list, got ${JSON.stringify(v)}`);
  return v;
}

export function str(v: unknown, what: string): string {
  if (typeof v !== 'string') throw new Error(`${what}: expected a string, got ${JSON.stringify(v)}`);
  return v;
}

/** Every string anywhere inside a parsed document, with its key path. */
export function walkStrings(v: unknown, at = '$', out: { path: string; value: string; key: string }[] = []): { path: string; value: string; key: string }[] {
  if (typeof v === 'string') out.push({ path: at, value: v, key: at.split('.').pop() ?? '' });
  else if (Array.isArray(v)) v.forEach((x, i) => walkStrings(x, `${at}[${i}]`, out));
  else if (isObj(v)) for (const [k, x] of Object.entries(v)) walkStrings(x, `${at}.${k}`, out);
  return out;
}

// ------------------------------------------------------------------ the metric contract

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary';

/**
 * The failover_* metrics as declared in shared/src/runtime/metrics.ts (name and class), read from the source file:
 * this is the contract dashboards and alerts are written against.
 */
export function declaredFailoverMetrics(): Map<string, MetricType> {
  const source = fs.readFileSync(path.join(repoRoot, 'shared', 'src', 'runtime', 'metrics.ts'), 'utf8');
  const found = new Map<string, MetricType>();
  for (const m of source.matchAll(/new (Counter|Gauge|Histogram|Summary)\(\{\s*name:\s*'([a-zA-Z_:][a-zA-Z0-9_:]*)'/g)) {
    found.set(m[2], m[1].toLowerCase() as MetricType);
  }
  return found;
}

/**
 * Every series name a portal-failover process exports: the registry the service really builds (with Node's default
 * metrics), histograms and summaries expanded to their _bucket/_sum/_count series.
 */
export function exportedSeriesNames(): Set<string> {
  const metrics = createMetrics(new Registry(), { defaultMetrics: true });
  const names = new Set<string>();
  for (const m of metrics.registry.getMetricsAsArray()) {
    const { name, type } = m as unknown as { name: string; type: string };
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(name + suffix);
    else if (type === 'summary') for (const suffix of ['', '_sum', '_count']) names.add(name + suffix);
    else names.add(name);
  }
  for (const f of metrics.families) names.add(f.name);
  return names;
}

const PROMQL_KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'bool', 'and', 'or', 'unless', 'atan2', 'inf', 'nan']);

/**
 * Metric names used by a PromQL expression: identifiers left after removing strings, label matchers, ranges,
 * grouping lists, function calls and keywords. Good enough for the expressions in this repository, which the
 * tests also run through a real Prometheus.
 */
export function metricNamesIn(expr: string): string[] {
  let e = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\boffset\s+-?[0-9a-z$_]+/g, ' ');
  e = e.replace(/\$[a-zA-Z_]+/g, ' ');
  const names = new Set<string>();
  for (const m of e.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)) {
    const [, ident, call] = m;
    if (call || PROMQL_KEYWORDS.has(ident.toLowerCase())) continue;
    const before = e.slice(0, m.index);
    if (/[0-9.]$/.test(before)) continue; // the unit of a number such as 1e3 or a duration
    names.add(ident);
  }
  return [...names];
}

/** Series that only the controller holding the lease keeps up to date (see deploy/prometheus/rules). */
export const LEADER_ONLY = ['failover_portal_phase', 'failover_site_healthy', 'failover_site_ready', 'failover_active_site', 'failover_automation_frozen', 'failover_queue_jobs', 'failover_traffic_in_sync', 'failover_risk_window_in_force', 'failover_dns_ttl_lowered_seconds'];

/** True when every leader-only series in `expr` is filtered to the leader's process. */
export function keepsLeaderOnly(expr: string): boolean {
  const uses = metricNamesIn(expr).some((n) => LEADER_ONLY.includes(n));
  // The leader filter may carry label matchers of its own (the dashboard narrows it to $job).
  return !uses || /and on \(job, instance\) \(failover_controller_leader(\{[^}]*\})? == 1\)/.test(expr);
}

// ------------------------------------------------------------------ Prometheus and Alertmanager daemons

export interface Server {
  url: string;
  dir: string;
  log: string;
  daemon: Daemon;
  stop(): Promise<void>;
}

/**
 * Starts a server on a free loopback port and waits for its /-/ready; a bind race with another process is retried on
 * a new port. `args(port)` gives the command line for that port.
 */
export async function startReadyServer(name: string, binary: string, dir: string, args: (port: number) => string[]): Promise<Server> {
  const log = path.join(dir, `${name}.log`);
  const errors: string[] = [];
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const daemon = await spawnDaemon(binary, args(port), log);
    const url = `http://127.0.0.1:${port}`;
    try {
      await waitFor(async () => (await fetch(`${url}/-/ready`)).ok, { what: `${name} on ${url} to be ready`, timeoutMs: 30_000, signal: daemon.exitSignal });
      return { url, dir, log, daemon, stop: () => daemon.stop('SIGTERM') };
    } catch (err) {
      await daemon.stop('SIGKILL');
      errors.push(`${errorMessage(err)}\n${logTail(log)}`);
    }
  }
  throw new Error(`${name} did not start:\n${errors.join('\n')}`);
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export interface PromVectorSample {
  metric: Record<string, string>;
  value?: [number, string];
  values?: [number, string][];
}

export interface PromQueryResponse {
  status: 'success' | 'error';
  errorType?: string;
  error?: string;
  data?: { resultType: string; result: PromVectorSample[] };
}

export async function promQuery(base: string, query: string, extra: Record<string, string> = {}): Promise<PromQueryResponse> {
  const endpoint = extra.start !== undefined ? 'query_range' : 'query';
  const body = new URLSearchParams({ query, ...extra });
  const res = await fetch(`${base}/api/v1/${endpoint}`, { method: 'POST', body });
  return (await res.json()) as PromQueryResponse;
}
