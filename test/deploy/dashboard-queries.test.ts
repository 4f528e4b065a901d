import fs from 'node:fs';
import path from 'node:path';
import { createMetrics, isoInZone, parseConfig } from '@portal-failover/shared';
import { stringify } from 'yaml';
import { startAllInOne, type AllInOne } from '../../cli/src/all-in-one';
import { waitFor } from '../support/free-port';
import { e2eRawConfig, portalFixture, testLogger, type PortalFixture } from '../support/e2e';
import { dashboardQueries } from './dashboard-model';
import { deployPath, promQuery, startReadyServer, tempDir, tool, type PromVectorSample, type Server } from './support';

/**
 * Every PromQL expression of the Grafana dashboard, run through a real Prometheus that scrapes the real service
 * (checker, controller and API in one process) while it fails a portal over: each must parse and return data. The
 * alert rules are loaded too, so a rule that only fails on real series (e.g. a many-to-many match) shows up here.
 * The portal has a risk window in force for the whole run (its TTL lowered before the switch), so the risk-window
 * annotation and panels have data.
 */
jest.setTimeout(180_000);

/** The risk window's lowerTtlTo (the fixture's record has TTL 30). */
const LOWERED_TTL = 5;

/** Grafana's built-in variables, as Grafana would fill them for a 5-minute view of a 1 s-scrape Prometheus. */
const GRAFANA_VARS: Record<string, string> = { $__rate_interval: '1m', $__interval: '15s', $__range: '5m' };

/**
 * Expressions that legitimately return nothing at the end of a short run where one switch succeeded, with why.
 * Each is still run and must parse; "event" ones must have data somewhere in the run (checked with a range query,
 * as Grafana runs annotations).
 */
const NO_DATA_NOW: Record<string, { reason: string; event: boolean }> = {
  'panel "Failed switchovers" A': { reason: 'no switch fails in this run (failover_switchovers_total{result="failed"} is never created)', event: false },
  'annotation "Switchovers"': { reason: 'an annotation marks the 2 minutes after a switchover; it must show in the run, not necessarily at its end', event: true },
};

function fill(expr: string, portal: string): string {
  // $job and $vantage as Grafana fills them with "All" in a one-job, one-vantage run.
  let e = expr.replaceAll('$portal', portal).replaceAll('$job', '.*').replaceAll('$vantage', '.*');
  for (const [k, v] of Object.entries(GRAFANA_VARS)) e = e.replaceAll(k, v);
  return e;
}

let fx: PortalFixture;
let app: AllInOne;
let prom: Server;
let dir: string;
let runStart: number;

beforeAll(async () => {
  const binary = tool('prometheus');
  runStart = Date.now() / 1000;
  fx = await portalFixture('dash');
  const raw = e2eRawConfig([fx]);
  // Starts in 10 minutes with an hour of lead: in force from the first tick to the end of the run.
  (raw.portals as Record<string, unknown>[])[0].riskWindows = [
    { name: 'dc-notice', start: isoInZone(Math.ceil((Date.now() + 600_000) / 1000) * 1000, '+07:00'), duration: '1h', leadTime: '1h', lowerTtlTo: `${LOWERED_TTL}s` },
  ];
  const { REDIS_URL: _ignored, ...env } = process.env;
  app = await startAllInOne(parseConfig(raw, 'e2e', env), testLogger(), createMetrics());
  const target = new URL(app.apiUrl).host;

  dir = tempDir('pf-prom-');
  const config = {
    global: { scrape_interval: '1s', evaluation_interval: '1s' },
    rule_files: [deployPath('prometheus', 'rules', 'failover.rules.yml')],
    scrape_configs: [{ job_name: 'portal-failover-api', static_configs: [{ targets: [target] }] }],
  };
  fs.writeFileSync(path.join(dir, 'prometheus.yml'), stringify(config));
  prom = await startReadyServer('prometheus', binary, dir, (port) => [
    `--config.file=${path.join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${path.join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
  ]);
  await waitFor(async () => ((await promQuery(prom.url, 'up{job="portal-failover-api"} == 1')).data?.result.length ?? 0) > 0, {
    timeoutMs: 30_000,
    what: 'Prometheus scraping the service',
  });
  await waitFor(() => app.controller.state(fx.id)?.phase === 'healthy', { timeoutMs: 20_000, what: 'portal healthy' });
  await waitFor(() => app.controller.state(fx.id)?.ttlLowered?.ttl === LOWERED_TTL, { timeoutMs: 20_000, what: 'the TTL lowered for the risk window' });

  // The failover: the primary refuses connections; the controller moves the record to the standby.
  await fx.primary.setMode({ kind: 'refuse' });
  await waitFor(async () => (await fx.answer())[0] === fx.standbyAddress, { timeoutMs: 30_000, what: 'DNS answer moved to the standby' });
  // Prometheus has several samples since the switch (a 1 s-step range query lands on one of them) and a failure rate.
  // The counter exists at 0 from the start, so wait for samples of the switch itself (the successful count at 1).
  const switched = `failover_switchovers_total{portal="${fx.id}",result="success"} >= 1`;
  await waitFor(async () => ((await promQuery(prom.url, `count_over_time((${switched})[1m:1s]) >= 3`)).data?.result.length ?? 0) > 0, {
    timeoutMs: 15_000,
    what: 'the switchover scraped',
  });
  await waitFor(async () => ((await promQuery(prom.url, `rate(failover_check_failures_total{portal="${fx.id}"}[1m]) > 0`)).data?.result.length ?? 0) > 0, {
    timeoutMs: 15_000,
    what: 'a non-zero failure rate',
  });
});

afterAll(async () => {
  await prom?.stop();
  await app?.stop();
  await Promise.all([fx?.primary.close(), fx?.standby.close()]);
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('every dashboard query on real data', () => {
  const queries = dashboardQueries();

  it('lists only real queries as allowed to be empty', () => {
    const names = new Set(queries.map((q) => q.where));
    expect(Object.keys(NO_DATA_NOW).filter((w) => !names.has(w))).toEqual([]);
  });

  it.each(queries.map((q) => [q.where, q.expr] as const))('%s parses and returns data', async (where, expr) => {
    const query = fill(expr, fx.id);
    expect(query).not.toContain('$');
    const r = await promQuery(prom.url, query);
    expect({ status: r.status, error: r.error }).toEqual({ status: 'success', error: undefined });
    const allowed = NO_DATA_NOW[where];
    if (allowed === undefined) {
      expect(r.data?.result.length ?? 0).toBeGreaterThan(0);
      const values = (r.data?.result ?? []).map((s: PromVectorSample) => Number(s.value?.[1]));
      // Some value is a real number (a histogram_quantile over empty buckets would be NaN).
      expect(values.some((v) => Number.isFinite(v))).toBe(true);
    } else if (allowed.event) {
      const range = await promQuery(prom.url, query, { start: String(runStart), end: String(Date.now() / 1000), step: '1' });
      expect(range.status).toBe('success');
      expect(range.data?.result.length ?? 0).toBeGreaterThan(0);
    }
  });

  it('shows the switch: standby active, failed_over, primary down, one successful automatic switch', async () => {
    const one = async (q: string) => (await promQuery(prom.url, fill(q, fx.id))).data?.result ?? [];
    const active = queries.find((q) => q.where === 'panel "Active site" A');
    const phase = queries.find((q) => q.where === 'panel "Phase" A');
    expect((await one(active?.expr ?? '')).map((s) => s.metric.site)).toEqual(['standby']);
    expect((await one(phase?.expr ?? '')).map((s) => s.metric.phase)).toEqual(['failed_over']);
    const switches = await one(queries.find((q) => q.where === 'panel "Switchovers" A')?.expr ?? '');
    // Every series exists at 0 from the start (metrics from zero); exactly one of them counted something.
    const counted = switches.filter((s) => Number(s.value?.[1]) !== 0);
    expect(switches.length).toBeGreaterThan(1);
    expect(counted.map((s) => [s.metric.from, s.metric.to, s.metric.trigger, s.metric.result, s.value?.[1]])).toEqual([['primary', 'standby', 'auto', 'success', '1']]);
  });

  it('shows the risk window in force and the TTL the leader verified', async () => {
    const one = async (where: string) => (await promQuery(prom.url, fill(queries.find((q) => q.where === where)?.expr ?? '', fx.id))).data?.result ?? [];
    const windows = await one('panel "Risk windows" A');
    expect(windows.map((s) => [s.metric.portal, s.metric.window, s.value?.[1]])).toEqual([[fx.id, 'dc-notice', '1']]);
    expect((await one('panel "Risk-window DNS TTL" A')).map((s) => [s.metric.portal, s.value?.[1]])).toEqual([[fx.id, String(LOWERED_TTL)]]);
    expect((await one('annotation "Risk windows"')).map((s) => [s.metric.portal, s.metric.window])).toEqual([[fx.id, 'dc-notice']]);
  });
});

interface RulesResponse {
  data: { groups: { name: string; rules: { name: string; health: string; lastError?: string; lastEvaluation: string; state?: string; alerts?: { labels: Record<string, string>; state: string }[] }[] }[] };
}

describe('alert rules on real data', () => {
  it('evaluate without errors, and FailoverStarted / FailoverStandbyUnhealthy see the switch', async () => {
    // Every rule evaluated at least once after the switch was scraped.
    const rules = await waitFor(
      async () => {
        const r = (await (await fetch(`${prom.url}/api/v1/rules`)).json()) as RulesResponse;
        const all = r.data.groups.flatMap((g) => g.rules);
        const started = all.find((x) => x.name === 'FailoverStarted');
        return all.length > 0 && started?.alerts?.some((a) => a.labels.portal === fx.id) ? all : undefined;
      },
      { timeoutMs: 15_000, what: 'FailoverStarted active for the portal' },
    );
    expect(rules.filter((r) => r.health !== 'ok').map((r) => `${r.name}: ${r.health} ${r.lastError ?? ''}`)).toEqual([]);
    const alerts = (name: string) => (rules.find((r) => r.name === name)?.alerts ?? []).filter((a) => a.labels.portal === fx.id);
    expect(alerts('FailoverStarted').map((a) => a.state)).toEqual(['firing']);
    // The primary is down while the standby serves: pending for its 10 minutes.
    await waitFor(
      async () => {
        const r = (await (await fetch(`${prom.url}/api/v1/rules`)).json()) as RulesResponse;
        const su = r.data.groups.flatMap((g) => g.rules).find((x) => x.name === 'FailoverStandbyUnhealthy');
        return su?.alerts?.some((a) => a.labels.portal === fx.id && a.labels.site === 'primary' && a.state === 'pending');
      },
      { timeoutMs: 15_000, what: 'FailoverStandbyUnhealthy pending for the primary' },
    );
    for (const name of ['FailoverNoLeader', 'FailoverBothSitesDown', 'FailoverFailed', 'FailoverNoCheckResults', 'FailoverQueueBacklog', 'FailoverRiskWindowNotPrepared']) {
      expect(`${name}: ${JSON.stringify(alerts(name))}`).toBe(`${name}: []`);
    }
  });
});
