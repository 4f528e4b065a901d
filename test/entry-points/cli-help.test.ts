import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CLI } from '../support/cli';

/**
 * `portal-failover --help` must be instant (issue 13 asks under 300 ms; `npm run bench:cli` measures it). Time is
 * measured in the bench, not here; here the cause is pinned: printing help loads commander and the CLI's own files,
 * nothing of the service stack, the YAML parser, zod or the HTTP client.
 */
const PRELOAD = path.join(__dirname, 'record-modules.js');

function modulesLoadedBy(args: string[]): string[] {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'pf-help-')), 'modules.txt');
  const r = spawnSync(process.execPath, ['--require', PRELOAD, CLI, ...args], { env: { ...process.env, RECORD_MODULES_TO: out }, encoding: 'utf8' });
  expect(r.status).toBe(0);
  return fs.readFileSync(out, 'utf8').split('\n').filter(Boolean);
}

it.each([[['--help']], [['switchover', '--help']], [['--version']]])('%j loads commander and the CLI only', (args) => {
  const modules = modulesLoadedBy(args);
  const packages = new Set(modules.map((m) => /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(m)?.[1]).filter((p): p is string => p !== undefined));
  expect([...packages]).toEqual(['commander']);
  // Workspace files resolve to their real paths: none of the service stack, the store, the providers or the core.
  const heavy = modules.filter((m) => /\/(services\/(checker|controller)\/dist|shared\/dist\/(index|runtime|providers|store|core|audit|status|evidence)\b)/.test(m));
  expect(heavy).toEqual([]);
  const apiFiles = modules.filter((m) => m.includes('/services/api/dist/')).map((m) => path.basename(m));
  expect(apiFiles.filter((f) => !['auth.js', 'problem.js'].includes(f))).toEqual([]);
  expect(modules.some((m) => /node_modules\/commander\//.test(m))).toBe(true);
});
