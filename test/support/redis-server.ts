import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { errorMessage, freePort, logTail, requireExecutable, spawnDaemon, waitFor, type Daemon } from './free-port';

export interface StartRedisOptions {
  /** Data directory; by default a fresh temp dir that stop() deletes. A dir passed in is never deleted. */
  dir?: string;
  /** AOF persistence, needed for tests that restart or kill -9 the server and expect data to survive. */
  appendonly?: boolean;
  port?: number;
  startTimeoutMs?: number;
  /** Extra redis-server arguments, e.g. ['--aclfile', file]. */
  args?: string[];
  /** A user the readiness probe logs in as, for a server whose default user may not run INFO (an ACL file). */
  auth?: { user: string; password: string };
}

export interface RedisServer {
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  /** Changes on restart(). */
  readonly pid: number;
  /** SIGTERM and wait for exit; also deletes the temp dir if startRedis created it, so call it last. */
  stop(): Promise<void>;
  /** Simulates a crash: nothing is flushed beyond what Redis already wrote. */
  kill9(): Promise<void>;
  /** Stops the server if it still runs, then starts it again on the same port and dir. */
  restart(): Promise<void>;
}

const INSTALL_HINT =
  'apt-get install -y redis-server (Debian/Ubuntu, as root; the tests start their own redis-server on a free port)';

/** True only for +PONG: a server still loading its AOF answers -LOADING and is not ready yet. */
export async function pingRedis(port: number, host = '127.0.0.1', timeoutMs = 1000): Promise<boolean> {
  return (await probeRedis(port, host, timeoutMs, undefined)).pong;
}

interface RedisProbe {
  pong: boolean;
  processId?: number;
}

/**
 * PING plus the server's process_id from INFO, over a raw socket so readiness does not depend on client retry
 * logic. The pid tells our child apart from a foreign server that grabbed the port after freePort() released it.
 */
function probeRedis(port: number, host: string, timeoutMs: number, auth: StartRedisOptions['auth']): Promise<RedisProbe> {
  return new Promise<RedisProbe>((resolve) => {
    const socket = net.createConnection({ host, port });
    let buffer = '';
    const finish = (probe: RedisProbe): void => {
      socket.destroy();
      resolve(probe);
    };
    socket.setTimeout(timeoutMs, () => finish({ pong: false }));
    socket.once('error', () => finish({ pong: false }));
    socket.once('end', () => finish({ pong: false }));
    // Inline AUTH arguments cannot hold spaces or CR/LF; the tests' passwords are hex.
    socket.once('connect', () => socket.write(`${auth ? `AUTH ${auth.user} ${auth.password}\r\n` : ''}PING\r\nINFO server\r\n`));
    let authed = auth === undefined;
    socket.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('latin1');
      if (!authed) {
        if (!buffer.includes('\r\n')) return;
        if (!buffer.startsWith('+OK\r\n')) return finish({ pong: false });
        buffer = buffer.slice(5);
        authed = true;
      }
      const firstEnd = buffer.indexOf('\r\n');
      if (firstEnd < 0) return;
      const pong = buffer.startsWith('+PONG');
      const rest = buffer.slice(firstEnd + 2);
      const headerEnd = rest.indexOf('\r\n');
      if (headerEnd < 0) return;
      if (!rest.startsWith('$')) {
        finish({ pong });
        return;
      }
      // INFO is a bulk string ($<len>\r\n<body>\r\n); its body is ASCII, so latin1 length equals byte length.
      const length = Number(rest.slice(1, headerEnd));
      const body = rest.slice(headerEnd + 2);
      if (body.length < length) return;
      const match = /^process_id:(\d+)/m.exec(body.slice(0, length));
      finish({ pong, processId: match ? Number(match[1]) : undefined });
    });
  });
}

export async function startRedis(options: StartRedisOptions = {}): Promise<RedisServer> {
  const binary = requireExecutable('redis-server', INSTALL_HINT);
  const ownsDir = options.dir === undefined;
  const dir = options.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'pf-redis-'));
  fs.mkdirSync(dir, { recursive: true });
  const logFile = path.join(dir, 'redis.log');
  const startTimeoutMs = options.startTimeoutMs ?? 15_000;

  const launch = async (port: number): Promise<Daemon> => {
    const args = [
      '--port', String(port),
      '--bind', '127.0.0.1',
      // An empty value disables RDB snapshots, so only the AOF (if on) decides what survives a restart.
      '--save', '',
      '--appendonly', options.appendonly ? 'yes' : 'no',
      '--dir', dir,
      '--daemonize', 'no',
      ...(options.args ?? []),
    ];
    const daemon = await spawnDaemon(binary, args, logFile);
    try {
      await waitFor(
        async () => {
          const probe = await probeRedis(port, '127.0.0.1', 1000, options.auth);
          return probe.pong && probe.processId === daemon.pid;
        },
        {
          what: `redis-server (pid ${daemon.pid}) on 127.0.0.1:${port} to answer PING`,
          timeoutMs: startTimeoutMs,
          intervalMs: 25,
          signal: daemon.exitSignal,
        },
      );
    } catch (err) {
      await daemon.stop('SIGKILL');
      throw new Error(`${errorMessage(err)}\nredis log (${logFile}):\n${logTail(logFile)}`);
    }
    return daemon;
  };

  // Retrying with a new port covers another process taking the one freePort() found; a caller's port is kept.
  const attempts = options.port === undefined ? 3 : 1;
  let started: { daemon: Daemon; port: number } | undefined;
  const errors: string[] = [];
  for (let i = 0; i < attempts && started === undefined; i++) {
    const port = options.port ?? (await freePort());
    try {
      started = { daemon: await launch(port), port };
    } catch (err) {
      errors.push(errorMessage(err));
    }
  }
  if (started === undefined) {
    // The log tail is already in the error, so the temp dir has nothing left worth keeping.
    if (ownsDir) fs.rmSync(dir, { recursive: true, force: true });
    throw new Error(`redis-server did not start:\n${errors.join('\n')}`);
  }

  let daemon = started.daemon;
  const port = started.port;
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    get pid(): number {
      return daemon.pid;
    },
    async stop(): Promise<void> {
      await daemon.stop('SIGTERM');
      if (ownsDir) fs.rmSync(dir, { recursive: true, force: true });
    },
    async kill9(): Promise<void> {
      await daemon.stop('SIGKILL');
    },
    async restart(): Promise<void> {
      await daemon.stop('SIGTERM');
      daemon = await launch(port);
    },
  };
}

/** The run-wide Redis from test/global-setup.ts; throws if the test was not started through the root jest config. */
export function sharedRedisUrl(): string {
  const url = process.env.TEST_REDIS_URL;
  if (!url) {
    throw new Error(
      'TEST_REDIS_URL is not set: run the tests with the root jest.config.js (npx jest from the repository root), ' +
        'whose globalSetup starts a private redis-server',
    );
  }
  return url;
}
