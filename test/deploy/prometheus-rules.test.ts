import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { arr, declaredFailoverMetrics, deployPath, exportedSeriesNames, keepsLeaderOnly, metricNamesIn, obj, repoRoot, run, str, tool } from './support';

/**
 * deploy/prometheus: the scrape config and alert rules pass promtool, the promtool unit tests pass, and every alert
 * is tested both ways and links to a runbook that exists.
 */

const RULES = deployPath('prometheus', 'rules', 'failover.rules.yml');
const RULE_TESTS = deployPath('prometheus', 'tests', 'failover.rules.test.yml');

/** The alerts the observability issue asks for; a rule dropped or renamed by accident fails here. */
const EXPECTED_ALERTS = [
  'FailoverPrimaryDownSomeVantages',
  'FailoverStarted',
  'FailoverFailed',
  'FailoverBothSitesDown',
  'FailoverAutomationFrozenTooLong',
  'FailoverNoCheckResults',
  'FailoverQueueBacklog',
  'FailoverCheckerBehind',
  'FailoverNoLeader',
  'FailoverAuditLogNearCap',
  'FailoverRedisMemoryHigh',
  'FailoverStandbyUnhealthy',
  'FailoverExternalProbeDown',
  'FailoverTlsCertExpiringSoon',
  'FailoverTrafficDrift',
  'FailoverUnknownRouting',
  'FailoverDrillTooOld',
  'FailoverPropagationLagging',
  'FailoverAuditWitnessFailing',
  'FailoverRiskWindowNotPrepared',
];

/** Series from other exporters that rules may use (the blackbox exporter's for the external probe). */
const FOREIGN_SERIES = new Set(['probe_success']);

interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

function alertRules(): AlertRule[] {
  const doc = obj(parse(fs.readFileSync(RULES, 'utf8')), 'rules file');
  const out: AlertRule[] = [];
  for (const [gi, g] of arr(doc.groups, 'groups').entries()) {
    for (const [ri, r] of arr(obj(g, `groups[${gi}]`).rules, `groups[${gi}].rules`).entries()) {
      const rule = obj(r, `groups[${gi}].rules[${ri}]`);
      if (rule.alert === undefined) continue;
      out.push({
        alert: str(rule.alert, 'alert'),
        expr: str(rule.expr, `${String(rule.alert)}.expr`),
        for: rule.for === undefined ? undefined : str(rule.for, 'for'),
        labels: obj(rule.labels ?? {}, `${String(rule.alert)}.labels`) as Record<string, string>,
        annotations: obj(rule.annotations ?? {}, `${String(rule.alert)}.annotations`) as Record<string, string>,
      });
    }
  }
  return out;
}

interface AlertCase {
  test: string;
  alertname: string;
  evalTime: string;
  expected: { labels: Record<string, string> }[];
}

function alertCases(): AlertCase[] {
  const doc = obj(parse(fs.readFileSync(RULE_TESTS, 'utf8')), 'rule tests');
  const cases: AlertCase[] = [];
  for (const [ti, t] of arr(doc.tests, 'tests').entries()) {
    const test = obj(t, `tests[${ti}]`);
    for (const [ci, c] of arr(test.alert_rule_test ?? [], `tests[${ti}].alert_rule_test`).entries()) {
      const at = obj(c, `tests[${ti}].alert_rule_test[${ci}]`);
      cases.push({
        test: typeof test.name === 'string' ? test.name : `tests[${ti}]`,
        alertname: str(at.alertname, 'alertname'),
        evalTime: str(at.eval_time, 'eval_time'),
        expected: arr(at.exp_alerts ?? [], 'exp_alerts').map((e) => ({ labels: obj(obj(e, 'exp_alert').exp_labels ?? {}, 'exp_labels') as Record<string, string> })),
      });
    }
  }
  return cases;
}

describe('promtool', () => {
  it('accepts prometheus.yml and the rule files it names', () => {
    const r = run(tool('promtool'), ['check', 'config', deployPath('prometheus', 'prometheus.yml')]);
    expect({ status: r.status, output: r.output }).toEqual({ status: 0, output: expect.stringContaining('SUCCESS: 1 rule files found') });
  });

  it('accepts the rules', () => {
    const r = run(tool('promtool'), ['check', 'rules', RULES]);
    expect({ status: r.status, output: r.output }).toEqual({ status: 0, output: expect.stringContaining(`SUCCESS: ${EXPECTED_ALERTS.length} rules found`) });
  });

  it('passes the rule unit tests', () => {
    const r = run(tool('promtool'), ['test', 'rules', RULE_TESTS]);
    expect({ status: r.status, output: r.output }).toEqual({ status: 0, output: expect.stringContaining('SUCCESS') });
  });
});

describe('alert rules', () => {
  const rules = alertRules();
  const cases = alertCases();

  it('define exactly the expected alerts', () => {
    expect(rules.map((r) => r.alert).sort()).toEqual([...EXPECTED_ALERTS].sort());
  });

  it.each(EXPECTED_ALERTS)('%s has a unit test where it fires and one where it does not', (name) => {
    const mine = cases.filter((c) => c.alertname === name);
    expect(mine.filter((c) => c.expected.length > 0).map((c) => `${c.test} @ ${c.evalTime}`)).not.toEqual([]);
    expect(mine.filter((c) => c.expected.length === 0).map((c) => `${c.test} @ ${c.evalTime}`)).not.toEqual([]);
  });

  // Where runbook_url points (one base, the alert's own section) is checked in runbook-links.test.ts.
  it.each(EXPECTED_ALERTS)('%s has a severity, summary, description and a runbook_url', (name) => {
    const rule = rules.find((r) => r.alert === name);
    expect(rule).toBeDefined();
    if (!rule) return;
    expect(['critical', 'warning', 'info']).toContain(rule.labels.severity);
    expect(rule.annotations.summary).toMatch(/\S{3}/);
    expect(rule.annotations.description).toMatch(/\S{3}/);
    expect(rule.annotations.runbook_url).toMatch(/^https?:\/\/\S+$/);
  });

  it('name the alerts the runbook documents', () => {
    const runbook = fs.readFileSync(path.join(repoRoot, 'docs', 'runbooks', 'alerts.md'), 'utf8');
    const documented = [...runbook.matchAll(/^## (Failover\w+)$/gm)].map((m) => m[1]);
    expect(documented.length).toBeGreaterThan(0);
    for (const name of documented) expect(rules.map((r) => r.alert)).toContain(name);
  });

  it('use only metrics the service exports (or the blackbox exporter for the external probe)', () => {
    const exported = exportedSeriesNames();
    const unknown = rules.flatMap((r) => metricNamesIn(r.expr).filter((n) => !exported.has(n) && !FOREIGN_SERIES.has(n)).map((n) => `${r.alert}: ${n}`));
    expect(unknown).toEqual([]);
    // The contract as written in metrics.ts is what the registry exports.
    for (const [name, type] of declaredFailoverMetrics()) {
      expect(exported.has(type === 'histogram' ? `${name}_bucket` : name) ? name : `not exported: ${name}`).toBe(name);
    }
  });

  it('read leader-only gauges from the process that holds the lease', () => {
    expect(rules.filter((r) => !keepsLeaderOnly(r.expr)).map((r) => r.alert)).toEqual([]);
  });

  it('label the switch-triggering alerts with failover_action=switchover, and their tests show a portal label', () => {
    const actions = rules.filter((r) => r.labels.failover_action !== undefined);
    expect(actions.map((r) => r.alert)).toEqual(['FailoverExternalProbeDown']);
    for (const r of actions) {
      expect(r.labels.failover_action).toBe('switchover');
      const fired = cases.filter((c) => c.alertname === r.alert).flatMap((c) => c.expected);
      expect(fired.length).toBeGreaterThan(0);
      for (const e of fired) {
        expect(e.labels.portal).toMatch(/\S/);
        expect(e.labels.failover_action).toBe('switchover');
      }
    }
    // No other alert may move traffic.
    expect(rules.filter((r) => r.labels.failover_action === undefined).length).toBe(EXPECTED_ALERTS.length - actions.length);
  });
});
