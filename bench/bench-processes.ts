import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { childPids } from '../test/support/process-gone';

// Compiled to bench/dist/bench/.
const ROOT = path.resolve(__dirname, '..', '..', '..');

/** Node options for every service a bench starts, e.g. `--cpu-prof --cpu-prof-dir=/tmp/p` (NODE_OPTIONS refuses those). */
const NODE_ARGS = (process.env.BENCH_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);

/** A script of this repository (path from its root) in a child Node process, its output appended to logFile. */
export function spawnNode(script: string, env: NodeJS.ProcessEnv, logFile: string, args: string[] = []): ChildProcess {
  const log = fs.openSync(logFile, 'a');
  try {
    return spawn(process.execPath, [...NODE_ARGS, path.join(ROOT, script), ...args], { env: { ...process.env, ...env }, stdio: ['ignore', log, log] });
  } finally {
    fs.closeSync(log);
  }
}

/** SIGTERM, then SIGKILL after 15 s. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

/** Resident memory of a process and every process it started (the all-in-one's forked checker), MiB. */
export function treeRssMiB(pid: number | undefined): number {
  if (pid === undefined) return 0;
  return childPids(pid).reduce((sum, child) => sum + treeRssMiB(child), rssMiB(pid));
}

/** Resident memory of a process, MiB; 0 once it has exited. */
export function rssMiB(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

