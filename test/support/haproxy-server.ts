import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { errorMessage, freePort, logTail, requireExecutable, spawnDaemon, waitFor, type Daemon } from './free-port';

/**
 * A private HAProxy (`haproxy -db`, foreground) as shared/recipes/haproxy.md describes: one frontend, one
 * backend `be_portal` with two servers that are tiny HTTP servers on loopback answering their own name, and the
 * runtime API at level admin on both a loopback TCP port and a unix socket (mode 600) in a fresh directory.
 */

export const HAPROXY_INSTALL_HINT =
  'apt-get install -y --no-install-recommends haproxy (Debian/Ubuntu, as root; apt does not start haproxy here, ' +
  'the tests run their own `haproxy -db` on free loopback ports)';

export interface StartHaproxyOptions {
  /** Server names in be_portal, in config order. */
  servers?: string[];
  /** Servers configured `disabled` (maintenance from the start), e.g. the standby. */
  initiallyMaint?: string[];
  /** Adds `server-state-file` + `load-server-state-from-file global`, so a restart reloads saved states. */
  stateFile?: string;
  executable?: string;
  startTimeoutMs?: number;
}

export interface HaproxyServer {
  dir: string;
  backend: 'be_portal';
  /** `tcp:127.0.0.1:<port>`, as a step's socket field takes it. */
  tcpSocket: string;
  adminPort: number;
  /** A runtime API socket at `level user`, which may not change server states (least-privilege tests). */
  userTcpSocket: string;
  /** `unix:<dir>/admin.sock`. */
  unixSocket: string;
  unixPath: string;
  /** http://127.0.0.1:<port>/ of the frontend. */
  frontendUrl: string;
  readonly pid: number;
  /** The server name that answered a request through the frontend (its X-Served-By header). */
  servedBy(): Promise<string>;
  /** One raw runtime API command over TCP, independent of the provider's client. */
  command(cmd: string): Promise<string>;
  /** { server name: srv_admin_state } from `show servers state be_portal`, parsed here independently. */
  adminStates(): Promise<Record<string, number>>;
  /** Stops and starts HAProxy again on the same ports and config, as a reload would. */
  restart(): Promise<void>;
  /** Stops HAProxy, keeping the directory (tests of a vanished socket). */
  halt(): Promise<void>;
  stop(): Promise<void>;
}

interface Backend {
  name: string;
  port: number;
  server: http.Server;
}

async function startBackend(name: string): Promise<Backend> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end(name);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  return { name, port: typeof address === 'object' && address ? address.port : 0, server };
}

export function rawCommand(target: { host: string; port: number } | { path: string }, cmd: string, timeoutMs = 3000): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const socket = net.createConnection(target);
    let out = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`runtime API did not answer "${cmd}" within ${timeoutMs}ms`));
    }, timeoutMs);
    socket.on('connect', () => socket.write(`${cmd}\n`));
    socket.on('data', (d: Buffer) => (out += d.toString('utf8')));
    socket.on('end', () => {
      clearTimeout(timer);
      resolve(out);
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

const START_ATTEMPTS = 3;

export async function startHaproxy(options: StartHaproxyOptions = {}): Promise<HaproxyServer> {
  const haproxy = requireExecutable(options.executable ?? 'haproxy', HAPROXY_INSTALL_HINT);
  const names = options.servers ?? ['primary', 'standby'];
  const disabled = new Set(options.initiallyMaint ?? []);
  const backends = await Promise.all(names.map(startBackend));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-haproxy-'));
  const unixPath = path.join(dir, 'admin.sock');
  const configFile = path.join(dir, 'haproxy.cfg');
  const logFile = path.join(dir, 'haproxy.log');
  let adminPort = 0;
  let frontendPort = 0;
  let userPort = 0;
  const writeConfig = () =>
    fs.writeFileSync(
      configFile,
      [
        'global',
        `    stats socket ipv4@127.0.0.1:${adminPort} level admin`,
        `    stats socket ${unixPath} mode 600 level admin`,
        `    stats socket ipv4@127.0.0.1:${userPort} level user`,
        '    stats timeout 30s',
        ...(options.stateFile ? [`    server-state-file ${options.stateFile}`] : []),
        '',
        'defaults',
        '    mode http',
        '    timeout connect 2s',
        '    timeout client  10s',
        '    timeout server  10s',
        ...(options.stateFile ? ['    load-server-state-from-file global'] : []),
        '',
        'frontend fe_portal',
        `    bind 127.0.0.1:${frontendPort}`,
        '    default_backend be_portal',
        '',
        'backend be_portal',
        '    http-response set-header X-Served-By %s',
        ...backends.map((b) => `    server ${b.name} 127.0.0.1:${b.port}${disabled.has(b.name) ? ' disabled' : ''}`),
        '',
      ].join('\n'),
    );

  let daemon: Daemon | undefined;
  const launch = async () => {
    const d = await spawnDaemon(haproxy, ['-db', '-f', configFile], logFile);
    daemon = d;
    try {
      // The runtime API answering with our child's pid is the readiness that matters (not a foreign listener).
      await waitFor(async () => (await rawCommand({ host: '127.0.0.1', port: adminPort }, 'show info', 1000)).includes(`Pid: ${d.pid}\n`), {
        what: `haproxy's runtime API on 127.0.0.1:${adminPort}`,
        timeoutMs: options.startTimeoutMs ?? 10_000,
        signal: d.exitSignal,
      });
    } catch (err) {
      await d.stop('SIGKILL');
      throw new Error(`${errorMessage(err)}\nhaproxy log (${logFile}):\n${logTail(logFile)}`);
    }
  };
  const closeBackends = () => Promise.all(backends.map((b) => new Promise<void>((r) => { b.server.closeAllConnections(); b.server.close(() => r()); })));
  // A port taken by someone else between freePort() and haproxy's bind makes haproxy exit; new ports fix that.
  const errors: string[] = [];
  for (let attempt = 1; daemon === undefined || daemon.hasExited(); attempt++) {
    if (attempt > START_ATTEMPTS) {
      await closeBackends();
      fs.rmSync(dir, { recursive: true, force: true });
      throw new Error(`haproxy did not start:\n${errors.join('\n')}`);
    }
    const ports = new Set<number>();
    while (ports.size < 3) ports.add(await freePort());
    [adminPort, frontendPort, userPort] = [...ports];
    writeConfig();
    try {
      await launch();
    } catch (err) {
      errors.push(`attempt ${attempt}: ${errorMessage(err)}`);
    }
  }

  const command = (cmd: string) => rawCommand({ host: '127.0.0.1', port: adminPort }, cmd);
  const halt = async () => {
    await daemon?.stop('SIGTERM');
  };
  return {
    dir,
    backend: 'be_portal',
    tcpSocket: `tcp:127.0.0.1:${adminPort}`,
    userTcpSocket: `tcp:127.0.0.1:${userPort}`,
    adminPort,
    unixSocket: `unix:${unixPath}`,
    unixPath,
    frontendUrl: `http://127.0.0.1:${frontendPort}/`,
    get pid() {
      return daemon?.pid ?? -1;
    },
    async servedBy() {
      const res = await fetch(`http://127.0.0.1:${frontendPort}/`, { signal: AbortSignal.timeout(5000) });
      await res.text();
      return res.headers.get('x-served-by') ?? `(status ${res.status})`;
    },
    command,
    async adminStates() {
      const text = await command('show servers state be_portal');
      const out: Record<string, number> = {};
      for (const line of text.split('\n')) {
        const f = line.trim().split(/\s+/);
        if (f.length > 6 && f[1] === 'be_portal') out[f[3]] = Number(f[6]);
      }
      return out;
    },
    async restart() {
      await halt();
      await launch();
    },
    halt,
    async stop() {
      await halt();
      await closeBackends();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A TCP pass-through in front of the runtime API that records each connection's command, so tests can see the
 * exact commands a provider sent.
 */
export async function startCommandRecorder(upstream: { host: string; port: number }): Promise<{ socket: string; commands: string[]; close(): Promise<void> }> {
  const commands: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const up = net.createConnection(upstream);
    sockets.add(client);
    sockets.add(up);
    let text = '';
    client.on('data', (d: Buffer) => {
      text += d.toString('utf8');
      up.write(d);
    });
    client.on('end', () => up.end());
    up.on('data', (d: Buffer) => client.write(d));
    up.on('end', () => {
      commands.push(...text.split('\n').filter((l) => l.trim() !== ''));
      client.end();
    });
    const drop = () => { client.destroy(); up.destroy(); };
    client.on('error', drop);
    up.on('error', drop);
    client.on('close', () => sockets.delete(client));
    up.on('close', () => sockets.delete(up));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    socket: `tcp:127.0.0.1:${port}`,
    commands,
    close: () => new Promise<void>((resolve) => { for (const s of sockets) s.destroy(); server.close(() => resolve()); }),
  };
}
