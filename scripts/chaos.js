#!/usr/bin/env node
// npm run chaos: runs the chaos suite (test/chaos, real redis-server / Sentinel / PowerDNS processes) with
// CHAOS_TRIALS trials of the repeated cases (default 50; `npm test` runs fewer), then prints the table of cases x
// trials with the counts and recovery times each case reported. Exits with jest's status. --forceExit: in one
// worker jest runs the suites in its own process, and a handle some suite leaves open (not yet found) keeps it alive.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const report = path.join(root, 'test', 'chaos', '.last-run.jsonl');
fs.rmSync(report, { force: true });
const env = { ...process.env, CHAOS_TRIALS: process.env.CHAOS_TRIALS || '50', CHAOS_REPORT: report };
const jest = spawnSync(process.execPath, [require.resolve('jest/bin/jest'), 'test/chaos', 'test/e2e/redis-loss.e2e.test.ts', 'test/e2e/drift-repair.e2e.test.ts', '--maxWorkers=1', '--forceExit'], { cwd: root, env, stdio: 'inherit' });

const rows = fs.existsSync(report) ? fs.readFileSync(report, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
const head = ['case', 'trials', 'false failovers', 'double executions', 'left failing_over', 'cut switched after', 'recovery'];
const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
for (const r of rows) lines.push(`| ${[r.case, r.trials, r.falseFailovers, r.doubleExecutions, r.leftFailingOver, r.cutSwitchedAfter, r.recovery].join(' | ')} |`);
process.stdout.write(`\nChaos run ${new Date().toISOString()} (CHAOS_TRIALS=${env.CHAOS_TRIALS})\n\n${lines.join('\n')}\n`);
process.exit(jest.status ?? 1);
