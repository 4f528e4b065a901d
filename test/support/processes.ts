import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');

export interface ServiceProcess {
  child: ChildProcess;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(): Promise<void>;
}

/** Writes a config document to a temp file (JSON is valid YAML) and returns its path. */
export function writeConfigFile(raw: unknown): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-cfg-'));
  const file = path.join(dir, 'failover.yaml');
  fs.writeFileSync(file, JSON.stringify(raw, null, 2));
  return file;
}

/** Runs a built service (`services/<name>/dist/main.js`) as its own process, the way operators deploy it. */
export function spawnService(name: 'checker' | 'controller' | 'api', configFile: string, env: NodeJS.ProcessEnv = {}): ServiceProcess {
  const main = path.join(ROOT, 'services', name, 'dist', 'main.js');
  if (!fs.existsSync(main)) throw new Error(`${main} is missing: run \`npx tsc -b\` (npm test does) before the process tests`);
  const { REDIS_URL: _ignored, ...base } = process.env;
  const child = spawn(process.execPath, [main], {
    env: { ...base, FAILOVER_CONFIG: configFile, LOG_FORMAT: 'pretty', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    output: () => out,
    exited,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 12_000);
      await exited;
      clearTimeout(t);
    },
  };
}
