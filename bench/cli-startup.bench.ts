import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { intEnv, summarize, table } from './stats';

/**
 * Wall time of the CLI's start-up paths, beside a bare `node -e ""` measured in the same run (the floor no CLI can
 * beat on this machine at this moment, so a loaded machine shows as a higher floor, not as a slower CLI). Issue 13
 * asks for `--help` under 300 ms on an idle machine. Runs are interleaved so load changes hit every row alike.
 */
// Compiled to bench/dist/bench/: the repository is three levels up.
const ROOT = path.resolve(__dirname, '..', '..', '..');
const CLI = path.join(ROOT, 'cli', 'dist', 'main.js');
const RUNS = intEnv('BENCH_RUNS', 20);

const cases: { name: string; args: string[] }[] = [
  { name: 'node -e "" (floor)', args: ['-e', ''] },
  { name: 'portal-failover --help', args: [CLI, '--help'] },
  { name: 'portal-failover --version', args: [CLI, '--version'] },
  { name: 'portal-failover switchover --help', args: [CLI, 'switchover', '--help'] },
  { name: 'portal-failover validate (example config)', args: [CLI, 'validate', path.join(ROOT, 'config', 'failover.yaml')] },
];

const times = new Map<string, number[]>(cases.map((c) => [c.name, []]));
for (let i = 0; i < RUNS; i++) {
  for (const c of cases) {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, c.args, { stdio: 'ignore', env: { ...process.env, LOG_LEVEL: 'error' } });
    const ms = performance.now() - t0;
    if (r.status !== 0) throw new Error(`${c.name} exited ${r.status}`);
    times.get(c.name)!.push(ms);
  }
}

const fmt = (ms: number) => `${ms.toFixed(0)} ms`;
const rows = cases.map((c) => {
  const s = summarize(times.get(c.name)!)!;
  return [c.name, String(s.n), fmt(s.min), fmt(s.median), fmt(s.p95), fmt(s.max)];
});
process.stdout.write(`CLI start-up, wall time per run (${RUNS} interleaved runs, Node ${process.version})\n\n${table(['case', 'runs', 'min', 'median', 'p95', 'max'], rows)}\n`);
