import fs from 'node:fs';
import path from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { arr, deployPath, obj, repoRoot, run, str, tempDir, tool } from './support';

/**
 * Runbook links start from one base URL, the dashboard's `runbook_base` constant: every alert's runbook_url is
 * <base>/alerts.md#<its section>, the section exists in docs/runbooks/alerts.md, and `npm run runbook-base -- <url>`
 * moves every link (rules, their promtool tests, the generated PrometheusRule) to a new base in one step.
 */

const SCRIPT = path.join(repoRoot, 'scripts', 'runbook-base.js');

function dashboardBase(root: string): string {
  const dash = JSON.parse(fs.readFileSync(path.join(root, 'deploy', 'grafana', 'dashboards', 'portal-failover.json'), 'utf8')) as { templating: { list: { name: string; query?: string }[] } };
  return str(dash.templating.list.find((v) => v.name === 'runbook_base')?.query, 'runbook_base.query');
}

/** alert name -> runbook_url, from a rules file's groups. */
function ruleLinks(groups: unknown): Map<string, string> {
  const out = new Map<string, string>();
  for (const g of arr(groups, 'groups')) {
    for (const r of arr(obj(g, 'group').rules, 'rules')) {
      const rule = obj(r, 'rule');
      if (typeof rule.alert === 'string') out.set(rule.alert, str(obj(rule.annotations, `${rule.alert}.annotations`).runbook_url, `${rule.alert}.runbook_url`));
    }
  }
  return out;
}

const rulesOf = (root: string) => ruleLinks(obj(parse(fs.readFileSync(path.join(root, 'deploy', 'prometheus', 'rules', 'failover.rules.yml'), 'utf8')), 'rules').groups);

/** alertname -> every runbook_url a promtool test expects for it. */
function testedLinks(root: string): [string, string][] {
  const doc = obj(parse(fs.readFileSync(path.join(root, 'deploy', 'prometheus', 'tests', 'failover.rules.test.yml'), 'utf8')), 'rule tests');
  return arr(doc.tests, 'tests').flatMap((t) =>
    arr(obj(t, 'test').alert_rule_test ?? [], 'alert_rule_test').flatMap((c) => {
      const at = obj(c, 'case');
      return arr(at.exp_alerts ?? [], 'exp_alerts').map((e): [string, string] => [str(at.alertname, 'alertname'), str(obj(obj(e, 'exp').exp_annotations ?? {}, 'exp_annotations').runbook_url ?? '', 'runbook_url')]);
    }),
  );
}

/** GitHub's anchor for a heading: lower case, punctuation other than - and _ dropped, spaces as -. */
const anchor = (heading: string) => heading.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-');

describe('runbook links', () => {
  const base = dashboardBase(repoRoot);
  const links = rulesOf(repoRoot);
  const anchors = new Set([...fs.readFileSync(path.join(repoRoot, 'docs', 'runbooks', 'alerts.md'), 'utf8').matchAll(/^#{1,6} (.+)$/gm)].map((m) => anchor(m[1])));

  it('the base is an http(s) URL without a trailing slash', () => {
    expect(base).toMatch(/^https?:\/\/\S+[^/]$/);
  });

  it('every alert links under that base to its own section of docs/runbooks/alerts.md, and the section exists', () => {
    expect(links.size).toBeGreaterThan(0);
    const wrong: string[] = [];
    for (const [alert, url] of links) {
      const want = `${base}/alerts.md#${anchor(alert)}`;
      if (url !== want) wrong.push(`${alert}: ${url} (want ${want})`);
      if (!anchors.has(anchor(alert))) wrong.push(`${alert}: no "## ${alert}" section in docs/runbooks/alerts.md`);
    }
    expect(wrong).toEqual([]);
    // The base names the runbooks folder of this repository's layout: alerts.md is there.
    expect(fs.existsSync(path.join(repoRoot, 'docs', 'runbooks', 'alerts.md'))).toBe(true);
  });

  it('the promtool tests expect the same links, and the script finds nothing to change', () => {
    for (const [alert, url] of testedLinks(repoRoot)) expect({ alert, url }).toEqual({ alert, url: links.get(alert) });
    const r = run(process.execPath, [SCRIPT, '--check']);
    expect({ status: r.status, output: r.output }).toEqual({ status: 0, output: expect.any(String) });
  });

  it('`runbook-base <url>` moves every link to a new base, and the promtool tests still pass', () => {
    const root = tempDir('pf-runbook-base-');
    try {
      for (const dir of ['deploy', 'scripts']) fs.cpSync(path.join(repoRoot, dir), path.join(root, dir), { recursive: true });
      // gen-k8s-monitoring.js needs the yaml package; the copy resolves it from the repository's node_modules.
      fs.symlinkSync(path.join(repoRoot, 'node_modules'), path.join(root, 'node_modules'));
      const copy = path.join(root, 'scripts', 'runbook-base.js');
      const newBase = 'https://wiki.example.org/ops/portal-failover';

      // A hand-edited link is caught by --check.
      const rulesFile = path.join(root, 'deploy', 'prometheus', 'rules', 'failover.rules.yml');
      fs.writeFileSync(rulesFile, fs.readFileSync(rulesFile, 'utf8').replace(/^(\s+runbook_url: )\S+/m, '$1https://elsewhere.example/x.md'));
      expect(run(process.execPath, [copy, '--check'], root).status).toBe(1);

      const r = run(process.execPath, [copy, `${newBase}/`], root);
      expect({ status: r.status, output: r.output }).toEqual({ status: 0, output: expect.stringContaining('prometheusrule.yaml') });
      expect(dashboardBase(root)).toBe(newBase);
      const moved = rulesOf(root);
      expect([...moved.keys()].sort()).toEqual([...links.keys()].sort());
      for (const [alert, url] of moved) expect(url).toBe(`${newBase}/alerts.md#${alert.toLowerCase()}`);
      for (const [alert, url] of testedLinks(root)) expect(url).toBe(`${newBase}/alerts.md#${alert.toLowerCase()}`);
      const generated = parseAllDocuments(fs.readFileSync(path.join(root, 'deploy', 'k8s', 'monitoring', 'prometheusrule.yaml'), 'utf8'))[0].toJS() as { spec: { groups: unknown } };
      expect(ruleLinks(generated.spec.groups)).toEqual(moved);
      expect(run(process.execPath, [copy, '--check'], root).status).toBe(0);
      const t = run(tool('promtool'), ['test', 'rules', path.join(root, 'deploy', 'prometheus', 'tests', 'failover.rules.test.yml')]);
      expect({ status: t.status, output: t.output }).toEqual({ status: 0, output: expect.stringContaining('SUCCESS') });
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it('refuses a base that is not an http(s) URL', () => {
    const r = run(process.execPath, [SCRIPT, '--check', 'wiki/runbooks']);
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 1, stderr: expect.stringContaining('must be an http(s) URL') });
  });
});
