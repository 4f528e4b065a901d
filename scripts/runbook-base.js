#!/usr/bin/env node
// Runbook links come from one base URL: the Grafana dashboard's `runbook_base` constant. Alert rules cannot read a
// dashboard variable, so this copies the base into every rule's runbook_url (<base>/alerts.md#<alert in lower case>)
// and into the promtool tests that expect those annotations, then regenerates deploy/k8s/monitoring.
//   npm run runbook-base -- https://wiki.example.org/portal-failover/runbooks   set a new base everywhere
//   npm run runbook-base                                                        re-derive from the dashboard
//   node scripts/runbook-base.js --check                                        exit 1 if anything is out of step
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const root = path.resolve(__dirname, '..');
const files = {
  dashboard: path.join(root, 'deploy', 'grafana', 'dashboards', 'portal-failover.json'),
  rules: path.join(root, 'deploy', 'prometheus', 'rules', 'failover.rules.yml'),
  ruleTests: path.join(root, 'deploy', 'prometheus', 'tests', 'failover.rules.test.yml'),
};
// Edited as text, not re-serialised, so comments and layout stay as written.
const BASE_IN_DASHBOARD = /("name": "runbook_base",[^}]*?"query": ")([^"]*)(")/;

const args = process.argv.slice(2);
const check = args.includes('--check');
const given = args.find((a) => !a.startsWith('--'));

function fail(message) {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

const dashboard = fs.readFileSync(files.dashboard, 'utf8');
const current = BASE_IN_DASHBOARD.exec(dashboard);
if (!current) fail(`${path.relative(root, files.dashboard)}: no runbook_base constant with a query`);
const base = (given ?? current[2]).replace(/\/+$/, '');
if (!/^https?:\/\/[^\s"#?]+$/.test(base)) fail(`runbook base: "${base}" must be an http(s) URL without a query or fragment`);

/** The URL an alert links to: its own section of alerts.md (GitHub's heading anchor is the lower-cased name). */
const runbookUrl = (alert) => `${base}/alerts.md#${alert.toLowerCase()}`;

/** Rewrites every runbook_url line to the URL of the alert named last above it (`key` says how that line reads). */
function rewrite(text, key) {
  let alert;
  return text
    .split('\n')
    .map((line) => {
      const named = new RegExp(`^\\s*-?\\s*${key}:\\s*(\\w+)\\s*$`).exec(line);
      if (named) alert = named[1];
      const m = /^(\s*runbook_url:\s*).*$/.exec(line);
      if (!m) return line;
      if (!alert) fail(`a runbook_url before any ${key}: ${line.trim()}`);
      return m[1] + runbookUrl(alert);
    })
    .join('\n');
}

const next = {
  dashboard: dashboard.replace(BASE_IN_DASHBOARD, (_all, a, _old, c) => a + base + c),
  rules: rewrite(fs.readFileSync(files.rules, 'utf8'), 'alert'),
  ruleTests: rewrite(fs.readFileSync(files.ruleTests, 'utf8'), 'alertname'),
};

let stale = 0;
for (const [k, text] of Object.entries(next)) {
  const rel = path.relative(root, files[k]);
  if (fs.readFileSync(files[k], 'utf8') === text) continue;
  if (check) {
    process.stderr.write(`${rel}: runbook links do not all start from ${base}: run npm run runbook-base\n`);
    stale++;
  } else {
    fs.writeFileSync(files[k], text);
    process.stdout.write(`wrote ${rel}\n`);
  }
}
if (check) process.exit(stale ? 1 : 0);
// The PrometheusRule and the dashboard ConfigMap carry copies of both files.
const gen = spawnSync(process.execPath, [path.join(__dirname, 'gen-k8s-monitoring.js')], { stdio: 'inherit' });
process.exit(gen.status ?? 1);
