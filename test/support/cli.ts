import { spawn } from 'node:child_process';
import * as path from 'node:path';

/** The built on-call CLI, run as an operator runs it (npm test builds it first). */
export const CLI = path.resolve(__dirname, '..', '..', 'cli', 'dist', 'main.js');

export interface CliRun {
  code: number | null;
  out: string;
  err: string;
}

/** Runs the built CLI in a child process with exactly `env`, collecting its output and exit code. */
export function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, out, err }));
  });
}
