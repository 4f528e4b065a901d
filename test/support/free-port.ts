import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

/**
 * Asks the kernel for an unused TCP port. The port is released again before returning, so another process
 * could take it in between: callers that spawn servers retry on a bind failure instead of trusting it blindly.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host, port: 0, exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error(`could not read the port of a listener on ${host}`));
        return;
      }
      server.close((err) => (err ? reject(err) : resolve(address.port)));
    });
  });
}

async function udpPortIsFree(host: string, port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const socket = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
    socket.once('error', () => {
      socket.close();
      resolve(false);
    });
    socket.bind({ address: host, port, exclusive: true }, () => {
      socket.close(() => resolve(true));
    });
  });
}

/** DNS servers bind the same number for UDP and TCP, and the kernel only hands out TCP ports with port 0. */
export async function freeTcpUdpPort(host = '127.0.0.1', attempts = 20): Promise<number> {
  for (let i = 0; i < attempts; i++) {
    const port = await freePort(host);
    if (await udpPortIsFree(host, port)) return port;
  }
  throw new Error(`no port free for both TCP and UDP on ${host} after ${attempts} attempts`);
}

export interface WaitForOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** Named in the timeout error, so a failing test says what never happened. */
  what: string;
  /** Lets a caller give up at once, e.g. when the server being waited for has already exited. */
  signal?: AbortSignal;
}

type Falsy = undefined | null | false;

/**
 * Polls `fn` until it returns something other than undefined/null/false. Exceptions count as "not yet" so that
 * "connection refused" while a server boots does not end the wait; the last one is quoted on timeout.
 */
export async function waitFor<T>(fn: () => T | Falsy | Promise<T | Falsy>, options: WaitForOptions): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const intervalMs = options.intervalMs ?? 50;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    if (options.signal?.aborted) {
      throw new Error(`gave up waiting for ${options.what}: ${errorMessage(options.signal.reason)}`);
    }
    try {
      const value = await fn();
      if (value !== undefined && value !== null && value !== false) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const last = lastError === undefined ? '' : ` (last error: ${errorMessage(lastError)})`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${options.what}${last}`);
    }
    await sleep(intervalMs, options.signal);
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/**
 * Looks a binary up on PATH plus the sbin directories, because pdns_server lives in /usr/sbin, which is not on
 * every user's PATH. Tests must fail loudly rather than skip when a server is missing, hence the install hint.
 */
export function requireExecutable(name: string, installHint: string): string {
  const dirs = (process.env.PATH ?? '').split(path.delimiter).filter((d) => d !== '');
  for (const extra of ['/usr/local/sbin', '/usr/sbin', '/sbin', '/usr/local/bin', '/usr/bin']) {
    if (!dirs.includes(extra)) dirs.push(extra);
  }
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // not in this directory; keep looking
    }
  }
  throw new Error(
    `${name} is not installed (not found on PATH or in /usr/sbin, /usr/bin). The tests need the real server; ` +
      `install it with: ${installHint}`,
  );
}

/** Last lines of a server log, to make a failed start diagnosable from the test output alone. */
export function logTail(file: string, lines = 20): string {
  try {
    const text = fs.readFileSync(file, 'utf8').trimEnd();
    return text.split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A server process spawned in the foreground, with its output appended to a log file. */
export interface Daemon {
  readonly pid: number;
  readonly exited: Promise<ExitInfo>;
  /** Aborted when the process exits, so readiness polling can stop early instead of running into its timeout. */
  readonly exitSignal: AbortSignal;
  hasExited(): boolean;
  /** Sends `signal` and resolves on the child's 'exit' event; SIGKILL after `graceMs` so a hung stop can't hang CI. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

// Killed synchronously on exit so a crashed test run doesn't leave servers holding ports and temp dirs.
const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of liveChildren) child.kill('SIGKILL');
  });
}

export async function spawnDaemon(command: string, args: string[], logFile: string): Promise<Daemon> {
  installExitHook();
  const log = fs.openSync(logFile, 'a');
  fs.writeSync(log, `\n--- ${new Date().toISOString()} ${command} ${args.join(' ')}\n`);
  let child: ChildProcess;
  try {
    child = spawn(command, args, { stdio: ['ignore', log, log] });
  } finally {
    // The child holds its own copy of the descriptor.
    fs.closeSync(log);
  }
  const exitController = new AbortController();
  let exitInfo: ExitInfo | undefined;
  const exited = new Promise<ExitInfo>((resolve) => {
    child.once('exit', (code, signal) => {
      liveChildren.delete(child);
      exitInfo = { code, signal };
      exitController.abort(new Error(`${path.basename(command)} exited (code ${code}, signal ${signal})`));
      resolve(exitInfo);
    });
  });
  const pid = await new Promise<number>((resolve, reject) => {
    child.once('spawn', () => resolve(child.pid ?? -1));
    child.once('error', reject);
  });
  // After a successful spawn, 'error' only reports failed kill() calls; the exit wait covers those.
  child.on('error', () => undefined);
  liveChildren.add(child);

  return {
    pid,
    exited,
    exitSignal: exitController.signal,
    hasExited: () => exitInfo !== undefined,
    async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<void> {
      if (exitInfo !== undefined) return;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      try {
        await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
