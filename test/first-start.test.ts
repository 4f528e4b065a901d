import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort, waitFor } from './support/free-port';
import { sharedRedisUrl } from './support/redis-server';

/**
 * A newcomer's first minutes, run as they would type them: `portal-failover --version`, `npm start` with the
 * shipped config (one plain line says where the API is and the two ways on), and `npm run demo -- --keep-running`
 * followed by `portal-failover status` with the printed URL and token.
 */
jest.setTimeout(90_000);

const ROOT = path.resolve(__dirname, '..');
const BIN = path.join(ROOT, 'node_modules', '.bin', 'portal-failover');
const CLI_VERSION = (JSON.parse(fs.readFileSync(path.join(ROOT, 'cli', 'package.json'), 'utf8')) as { version: string }).version;

/** The environment a user's shell would have: no token or URL left over from another test. */
function userEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { PORTAL_FAILOVER_TOKEN: _t, PORTAL_FAILOVER_URL: _u, FAILOVER_CONFIG: _c, ...base } = process.env;
  return { ...base, LOG_LEVEL: 'info', ...extra };
}

function collect(child: ChildProcess): { text: () => string } {
  let buf = '';
  child.stdout?.on('data', (d: Buffer) => (buf += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (buf += d.toString()));
  return { text: () => buf };
}

/** Waits for a line of output; on timeout the error quotes everything the process printed. */
async function lineOf(out: { text: () => string }, match: (line: string) => boolean, what: string, timeoutMs: number): Promise<string> {
  try {
    return await waitFor(() => out.text().split('\n').find(match), { timeoutMs, what });
  } catch (err) {
    throw new Error(`${(err as Error).message}; output so far:\n${out.text()}`);
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

async function stop(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGINT');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  const code = await exited;
  clearTimeout(timer);
  return code;
}

it('npx portal-failover --version prints the CLI package version', () => {
  const r = spawnSync(BIN, ['--version'], { encoding: 'utf8' });
  expect(r.status).toBe(0);
  expect(r.stdout.trim()).toBe(CLI_VERSION);
});

it('npm start with the shipped config prints one plain line: where the API is, that the example sites are not running, and the two ways on', async () => {
  const apiPort = await freePort();
  // The shipped config as is, only its API port moved off 8080 (the machine is shared) and its Redis prefix made unique.
  const shipped = fs.readFileSync(path.join(ROOT, 'config', 'failover.yaml'), 'utf8');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-first-start-'));
  fs.cpSync(path.join(ROOT, 'config', 'zones'), path.join(dir, 'zones'), { recursive: true });
  const file = path.join(dir, 'failover.yaml');
  fs.writeFileSync(file, shipped.replace('listen: 127.0.0.1:8080', `listen: 127.0.0.1:${apiPort}`).replace('prefix: pf', `prefix: pf-first-${apiPort}`));
  const child = spawn(process.execPath, [path.join(ROOT, 'cli', 'dist', 'main.js'), 'start', '--config', file], { env: userEnv({ REDIS_URL: sharedRedisUrl(), LOG_FORMAT: 'json' }) });
  const out = collect(child);
  try {
    const line = await lineOf(out, (l) => l.startsWith('portal-failover: status and API at'), 'the first-start line', 30_000);
    expect(line).toContain(`http://127.0.0.1:${apiPort}`);
    expect(line).toMatch(/the example sites 127\.0\.0\.1:18181, 127\.0\.0\.1:18182 are not running/);
    expect(line).toContain(`edit ${file}`);
    expect(line).toContain('npm run demo -- --keep-running');
    expect(() => JSON.parse(line)).toThrow(); // plain words, not a JSON log record
  } finally {
    await stop(child);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

it('npm run demo -- --keep-running, then portal-failover status with the printed token shows the portal', async () => {
  const ports = [await freePort(), await freePort(), await freePort()];
  const demo = spawn('npm', ['run', '--silent', 'demo', '--', '--keep-running', '--ports', ports.join(',')], {
    cwd: ROOT,
    env: userEnv({ REDIS_URL: sharedRedisUrl(), LOG_LEVEL: 'error' }),
    detached: true, // its own process group, so the SIGINT below reaches node behind npm as Ctrl-C would
  });
  const out = collect(demo);
  try {
    const exportLine = await lineOf(out, (l) => l.trim().startsWith('export PORTAL_FAILOVER_URL='), "the demo's export line", 60_000);
    const env = Object.fromEntries([...exportLine.matchAll(/(PORTAL_FAILOVER_\w+)=(\S+)/g)].map((m) => [m[1], m[2]]));
    expect(env.PORTAL_FAILOVER_URL).toBe(`http://127.0.0.1:${ports[0]}`);
    expect(env.PORTAL_FAILOVER_TOKEN).toMatch(/^pf_/);
    // The token is printed once only.
    expect(out.text().split(env.PORTAL_FAILOVER_TOKEN).length - 1).toBe(1);

    const status = spawnSync(BIN, ['status'], { env: userEnv(env), encoding: 'utf8' });
    expect(status.stderr).toBe('');
    expect(status.status).toBe(0);
    expect(status.stdout).toMatch(/^PORTAL\s+ACTIVE\s+PHASE/m);
    expect(status.stdout).toMatch(/^dvc-hanoi\s+(primary|standby)\s+\w+/m);

    // It stays up after the story: the failover happens and the service keeps answering.
    await lineOf(out, (l) => l.includes('still running:'), 'the demo to finish its failover and stay up', 45_000);
    const after = spawnSync(BIN, ['status', 'dvc-hanoi', '--json'], { env: userEnv(env), encoding: 'utf8' });
    expect(after.stderr).toBe('');
    expect(JSON.parse(after.stdout)).toMatchObject({ id: 'dvc-hanoi', activeSite: 'standby' });
  } finally {
    // Ctrl-C in the terminal: SIGINT to the whole process group (npm and the node process behind it).
    if (demo.pid !== undefined && demo.exitCode === null && demo.signalCode === null) {
      const exited = new Promise<void>((resolve) => demo.once('exit', () => resolve()));
      process.kill(-demo.pid, 'SIGINT');
      await exited;
    }
  }
  // The demo stops cleanly on Ctrl-C: it says so and closes the API and both simulated sites.
  await lineOf(out, (l) => l.includes('SIGINT received, stopping'), 'the demo to acknowledge Ctrl-C', 15_000);
  for (const port of ports) {
    await waitFor(async () => !(await accepts(port)), { timeoutMs: 15_000, what: `port ${port} to be closed after Ctrl-C` });
  }
});
