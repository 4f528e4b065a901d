import fs from 'node:fs';
import { parse } from 'yaml';
import { dashboardQueries, loadDashboard } from './dashboard-model';
import { arr, deployPath, exportedSeriesNames, isObj, keepsLeaderOnly, metricNamesIn, obj, str } from './support';

/**
 * The Grafana dashboard without screenshots: every panel is described and has a unit and a query, every query uses
 * only metrics the service exports, and the provisioning files point at it. test/deploy/dashboard-queries.test.ts
 * runs every query through a real Prometheus.
 */

describe('metricNamesIn', () => {
  it('finds series names and ignores functions, labels, ranges, grouping and keywords', () => {
    expect(
      metricNamesIn(
        'histogram_quantile(0.95, sum by (le, portal) (rate(a_bucket{portal=~"$portal", x="y z"}[$__rate_interval]))) / on (job) group_left (site) b ' +
          'and on (job, instance) (c == 1) or absent(d) unless e offset 5m',
      ).sort(),
    ).toEqual(['a_bucket', 'b', 'c', 'd', 'e']);
  });
});

describe('dashboard', () => {
  const d = loadDashboard();
  const exported = exportedSeriesNames();

  it('has a stable uid, a title and unique panel ids', () => {
    expect(d.uid).toBe('portal-failover');
    expect(d.title).toMatch(/\S/);
    expect(new Set(d.panels.map((p) => p.id)).size).toBe(d.panels.length);
    expect(d.panels.length).toBeGreaterThanOrEqual(10);
  });

  it('has a portal variable from label_values(failover_active_site, portal) and a data source variable', () => {
    const portal = d.templating.list.find((v) => v.name === 'portal');
    expect(portal?.definition).toBe('label_values(failover_active_site, portal)');
    expect(isObj(portal?.query) ? portal?.query.query : portal?.query).toBe('label_values(failover_active_site, portal)');
    expect(d.templating.list.find((v) => v.name === 'datasource')?.type).toBe('datasource');
  });

  it.each(loadDashboard().panels.map((p) => [p.title, p] as const))('panel "%s" has a description, a unit, a legend and queries on the data source variable', (_title, p) => {
    expect(p.title).toMatch(/\S/);
    expect((p.description ?? '').trim().length).toBeGreaterThanOrEqual(20);
    expect(p.fieldConfig?.defaults?.unit ?? '').toMatch(/\S/);
    expect(p.gridPos).toBeDefined();
    expect(p.datasource?.uid).toBe('${datasource}');
    expect((p.targets ?? []).length).toBeGreaterThan(0);
    for (const t of p.targets ?? []) {
      expect(t.expr ?? '').toMatch(/\S/);
      expect(t.legendFormat ?? '').toMatch(/\S/);
      expect(t.datasource?.uid).toBe('${datasource}');
    }
    if (p.type === 'timeseries' || p.type === 'state-timeline') expect(p.options?.legend?.showLegend).toBe(true);
    expect((p.fieldConfig?.defaults?.thresholds?.steps ?? []).length).toBeGreaterThan(0);
  });

  it('covers the metrics the issue asks for', () => {
    const used = new Set(dashboardQueries(d).flatMap((q) => metricNamesIn(q.expr)));
    for (const m of [
      'failover_active_site',
      'failover_portal_phase',
      'failover_check_up',
      'failover_check_duration_seconds_bucket',
      'failover_check_failures_total',
      'failover_switchovers_total',
      'failover_detection_seconds_bucket',
      'failover_switch_duration_seconds_bucket',
      'failover_queue_jobs',
      'failover_controller_leader',
      'failover_site_healthy',
      'failover_automation_frozen',
    ]) {
      expect(used.has(m) ? m : `unused: ${m}`).toBe(m);
    }
    expect(d.annotations.list.find((a) => a.name === 'Switchovers')?.expr).toContain('failover_switchovers_total');
  });

  it('queries only series the service exports', () => {
    const unknown = dashboardQueries(d).flatMap((q) => metricNamesIn(q.expr).filter((n) => !exported.has(n)).map((n) => `${q.where}: ${n}`));
    expect(unknown).toEqual([]);
  });

  it('filters every $portal-scoped panel by the variable and reads leader-only gauges from the leader', () => {
    const notLeader = dashboardQueries(d).filter((q) => !keepsLeaderOnly(q.expr)).map((q) => q.where);
    expect(notLeader).toEqual([]);
    const perPortal = dashboardQueries(d).filter((q) => metricNamesIn(q.expr).some((n) => n.startsWith('failover_') && n !== 'failover_controller_leader' && n !== 'failover_queue_jobs' && n !== 'failover_queue_oldest_waiting_seconds' && n !== 'failover_redis_up'));
    expect(perPortal.filter((q) => !q.expr.includes('portal=~"$portal"')).map((q) => q.where)).toEqual([]);
  });
});

describe('dashboard variables, time zone and runbook links', () => {
  const d = loadDashboard();
  const v = (name: string) => d.templating.list.find((x) => x.name === name) as (Record<string, unknown> & { name: string }) | undefined;

  it('has job and vantage variables, multi-select with All', () => {
    expect(v('job')).toMatchObject({ type: 'query', definition: 'label_values(failover_build_info, job)', multi: true, includeAll: true });
    // All must mean the jobs that export failover_build_info, not every job in Prometheus (.*).
    expect(v('job')?.allValue).toBeUndefined();
    expect(v('vantage')).toMatchObject({ type: 'query', definition: 'label_values(failover_check_up, vantage)', multi: true, includeAll: true });
  });

  it('filters every query by $job, and every per-vantage series by $vantage', () => {
    const queries = dashboardQueries(d);
    const selectors = queries.flatMap((q) => [...q.expr.matchAll(/\b((?:failover|nodejs)_[a-z0-9_]+)(\{[^}]*\})?/g)].map((m) => ({ where: q.where, name: m[1], labels: m[2] ?? '' })));
    expect(selectors.length).toBeGreaterThan(20);
    expect(selectors.filter((s) => !s.labels.includes('job=~"$job"')).map((s) => `${s.where}: ${s.name}`)).toEqual([]);
    const perVantage = new Set(['failover_check_up', 'failover_check_failures_total', 'failover_check_duration_seconds_bucket']);
    expect(selectors.filter((s) => perVantage.has(s.name) && !s.labels.includes('vantage=~"$vantage"')).map((s) => `${s.where}: ${s.name}`)).toEqual([]);
  });

  it('shows times in UTC and takes every runbook link from one base URL variable', () => {
    expect((d as unknown as { timezone: string }).timezone).toBe('utc');
    expect(v('runbook_base')).toMatchObject({ type: 'constant' });
    expect(String(v('runbook_base')?.query)).toMatch(/^https?:\/\/\S+[^/]$/);
    const text = JSON.stringify(d);
    const runbookUrls = [...text.matchAll(/"url":\s*"([^"]*runbook[^"]*|[^"]*\$\{runbook_base\}[^"]*)"/g)].map((m) => m[1]);
    expect(runbookUrls.length).toBeGreaterThan(0);
    expect(runbookUrls.filter((u) => !u.startsWith('${runbook_base}/'))).toEqual([]);
  });
});

describe('grafana provisioning', () => {
  it('provisions the Prometheus data source and loads the dashboard folder', () => {
    const ds = obj(parse(fs.readFileSync(deployPath('grafana', 'provisioning', 'datasources', 'prometheus.yml'), 'utf8')), 'datasources');
    const sources = arr(ds.datasources, 'datasources').map((x) => obj(x, 'datasource'));
    expect(sources.map((s) => [s.type, s.url])).toEqual([['prometheus', 'http://prometheus:9090']]);
    const dash = obj(parse(fs.readFileSync(deployPath('grafana', 'provisioning', 'dashboards', 'portal-failover.yml'), 'utf8')), 'dashboards');
    const providers = arr(dash.providers, 'providers').map((x) => obj(x, 'provider'));
    expect(providers).toHaveLength(1);
    // The compose file mounts deploy/grafana/dashboards at this path.
    const compose = fs.readFileSync(deployPath('docker-compose.observability.yml'), 'utf8');
    const mountPath = str(obj(providers[0].options, 'options').path, 'options.path');
    expect(compose).toContain(`./grafana/dashboards:${mountPath}:ro`);
  });
});
