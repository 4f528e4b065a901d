import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { freePort, requireExecutable, spawnDaemon, waitFor, type Daemon } from './free-port';
import { pingRedis } from './redis-server';

/** One primary, one replica and three Sentinels (`redis-server --sentinel`), all on loopback, as in the recipe. */
export interface SentinelCluster {
  readonly name: string;
  /** host:port of each Sentinel, the form redis.sentinels takes. */
  readonly sentinels: string[];
  readonly primaryPort: number;
  readonly replicaPort: number;
  /** The port Sentinel names as master now. */
  masterPort(): Promise<number>;
  /** SIGKILL the server on `port` (the primary, to force a promotion). */
  kill9(port: number): Promise<void>;
  stop(): Promise<void>;
}

const INSTALL_HINT = 'apt-get install -y redis-server (the Sentinel is the same binary with --sentinel)';

/**
 * Redis ACL users (scripts/gen-redis-acl.js): the servers load `file` and replicate as `replica`, the Sentinels log in
 * as `sentinel`, and the readiness check reads INFO as `info` (the default user may only PING).
 */
export interface SentinelClusterAcl {
  file: string;
  replicaPassword: string;
  sentinelPassword: string;
  info: { user: string; password: string };
}

export async function startSentinelCluster(opts: { name?: string; downAfterMs?: number; acl?: SentinelClusterAcl } = {}): Promise<SentinelCluster> {
  const binary = requireExecutable('redis-server', INSTALL_HINT);
  const name = opts.name ?? 'pf';
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-sentinel-'));
  const daemons = new Map<number, Daemon>();
  const server = async (port: number, extra: string[]) => {
    const dir = path.join(root, `r${port}`);
    fs.mkdirSync(dir);
    const acl = opts.acl ? ['--aclfile', opts.acl.file, '--masteruser', 'replica', '--masterauth', opts.acl.replicaPassword] : [];
    const d = await spawnDaemon(binary, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--dir', dir, '--daemonize', 'no', ...acl, ...extra], path.join(dir, 'redis.log'));
    daemons.set(port, d);
    await waitFor(() => pingRedis(port), { what: `redis-server on ${port}`, timeoutMs: 15_000, intervalMs: 25, signal: d.exitSignal });
  };
  try {
    const primaryPort = await freePort();
    await server(primaryPort, []);
    const replicaPort = await freePort();
    await server(replicaPort, ['--replicaof', '127.0.0.1', String(primaryPort)]);
    const sentinelPorts: number[] = [];
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const dir = path.join(root, `s${port}`);
      fs.mkdirSync(dir);
      const conf = path.join(dir, 'sentinel.conf');
      // The file must be writable: Sentinel rewrites it with what it learns.
      fs.writeFileSync(
        conf,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${dir}`,
          `sentinel monitor ${name} 127.0.0.1 ${primaryPort} 2`,
          ...(opts.acl ? [`sentinel auth-user ${name} sentinel`, `sentinel auth-pass ${name} ${opts.acl.sentinelPassword}`] : []),
          `sentinel down-after-milliseconds ${name} ${opts.downAfterMs ?? 2000}`,
          `sentinel failover-timeout ${name} 10000`,
          `sentinel parallel-syncs ${name} 1`,
          '',
        ].join('\n'),
      );
      const d = await spawnDaemon(binary, [conf, '--sentinel'], path.join(dir, 'sentinel.log'));
      daemons.set(port, d);
      sentinelPorts.push(port);
      await waitFor(() => pingRedis(port), { what: `sentinel on ${port}`, timeoutMs: 15_000, intervalMs: 25, signal: d.exitSignal });
    }
    const ask = askSentinel;
    const masterPort = async () => {
      for (const p of sentinelPorts) {
        try {
          const r = (await ask(p, 'SENTINEL', 'get-master-addr-by-name', name)) as string[] | null;
          if (r) return Number(r[1]);
        } catch {
          // that Sentinel is not answering; ask the next
        }
      }
      throw new Error('no Sentinel answered');
    };
    // Ready when the replica is in sync and every Sentinel knows the replica and the other two Sentinels.
    await waitFor(
      async () => {
        const info = String(await askAs(replicaPort, opts.acl?.info, 'INFO', 'replication'));
        if (!/master_link_status:up/.test(info)) return false;
        for (const p of sentinelPorts) {
          const m = (await ask(p, 'SENTINEL', 'master', name)) as string[];
          const field = (k: string) => Number(m[m.indexOf(k) + 1]);
          if (field('num-slaves') < 1 || field('num-other-sentinels') < 2) return false;
        }
        return true;
      },
      { what: 'replica in sync and the Sentinels aware of each other', timeoutMs: 30_000, intervalMs: 200 },
    );
    return {
      name,
      sentinels: sentinelPorts.map((p) => `127.0.0.1:${p}`),
      primaryPort,
      replicaPort,
      masterPort,
      kill9: async (port) => {
        await daemons.get(port)?.stop('SIGKILL');
      },
      stop: async () => {
        await Promise.all([...daemons.values()].map((d) => d.stop('SIGTERM', 5_000)));
        fs.rmSync(root, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await Promise.all([...daemons.values()].map((d) => d.stop('SIGKILL')));
    fs.rmSync(root, { recursive: true, force: true });
    throw err;
  }
}

/** One command to a Redis or Sentinel on loopback, on a connection of its own that never retries. */
export async function askSentinel(port: number, ...args: string[]): Promise<unknown> {
  return askAs(port, undefined, ...args);
}

/** askSentinel, logged in as `auth` when given. */
export async function askAs(port: number, auth: { user: string; password: string } | undefined, ...args: string[]): Promise<unknown> {
  const c = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, ...(auth ? { username: auth.user, password: auth.password } : {}) });
  try {
    await c.connect();
    return await c.call(...(args as [string, ...string[]]));
  } finally {
    c.disconnect();
  }
}
