import { Redis } from 'ioredis';
import { keys, StateStore } from '@portal-failover/shared';
import { waitFor } from './free-port';
import { spawnService, writeConfigFile, type ServiceProcess } from './processes';
import { sharedRedisUrl } from './redis-server';

/**
 * The multi-controller process tests' set-up, in one place: one config file, a checker, several controller
 * processes (and the API when asked) on one Redis, with the store and the lease read straight from Redis so a test
 * can tell which process leads from the lease itself, not from what a process says about itself.
 */
export interface ControllerCluster {
  file: string;
  keys: ReturnType<typeof keys>;
  store: StateStore;
  redis: Redis;
  checker: ServiceProcess;
  controllers: ServiceProcess[];
  /**
   * The running controller whose process id is the lease's owner now; undefined while nobody holds it, and while
   * the lease still names a process that was killed (until it expires).
   */
  leader(): Promise<ServiceProcess | undefined>;
  /** One more controller process on the same config (a replacement, a successor). */
  spawnController(env?: NodeJS.ProcessEnv): ServiceProcess;
  /** Every process it started, the API included; also the ones a test stopped or signalled itself. */
  stop(): Promise<void>;
}

export interface ClusterOptions {
  /** One entry per controller to start, each its extra environment (failpoints). */
  controllers: NodeJS.ProcessEnv[];
  /** Environment for every process (secrets the config names as ${ENV}). */
  env?: NodeJS.ProcessEnv;
  /**
   * Start the first controller alone and wait until it leads before starting the others, so the test knows which
   * process leads. Otherwise all start at once and race for the lease.
   */
  firstLeads?: boolean;
  /** Portals that must reach `healthy` before the cluster is handed over. */
  healthy?: string[];
  timeoutMs?: number;
}

export async function startControllerCluster(raw: Record<string, unknown>, o: ClusterOptions): Promise<ControllerCluster> {
  const file = writeConfigFile(raw);
  const k = keys((raw.redis as { prefix: string }).prefix);
  const redis = new Redis((raw.redis as { url?: string }).url ?? sharedRedisUrl());
  const store = new StateStore(redis, k);
  const timeoutMs = o.timeoutMs ?? 30_000;
  const started: ServiceProcess[] = [];
  const spawn = (name: 'checker' | 'controller', env: NodeJS.ProcessEnv = {}) => {
    const p = spawnService(name, file, { ...o.env, ...env });
    started.push(p);
    return p;
  };
  const checker = spawn('checker');
  const controllers: ServiceProcess[] = [];
  const giveUp = async (err: unknown): Promise<never> => {
    await Promise.all(started.map((p) => p.stop()));
    redis.disconnect();
    throw err;
  };
  for (const [i, env] of o.controllers.entries()) {
    const c = spawn('controller', env);
    controllers.push(c);
    if (i === 0 && o.firstLeads) {
      await waitFor(() => /became leader with fencing token/.test(c.output()), { timeoutMs, what: 'the first controller to lead' }).catch((err: Error) =>
        giveUp(new Error(`${err.message}\n${c.output()}`)),
      );
    }
  }
  const cluster: ControllerCluster = {
    file,
    keys: k,
    store,
    redis,
    checker,
    controllers,
    async leader() {
      // The lease value is `<pid>-<id>|<token>` (services/controller/src/lease.ts).
      const pid = Number((await redis.get(k.lease))?.split('-')[0]);
      return cluster.controllers.find((c) => c.child.pid === pid && c.child.exitCode === null && c.child.signalCode === null);
    },
    spawnController(env = {}) {
      const c = spawn('controller', env);
      cluster.controllers.push(c);
      return c;
    },
    async stop() {
      for (const p of started) if (p.child.signalCode === null && p.child.exitCode === null) p.child.kill('SIGCONT');
      await Promise.all(started.map((p) => p.stop()));
      redis.disconnect();
    },
  };
  if (o.healthy?.length) {
    const ids = o.healthy;
    await waitFor(async () => (await Promise.all(ids.map((id) => store.loadState(id)))).every((s) => s?.phase === 'healthy'), {
      timeoutMs,
      what: `portals ${ids.join(', ')} healthy`,
    }).catch(giveUp);
  }
  return cluster;
}

/** The API as its own process on the same config; resolves with its base URL once it listens. */
export async function startApiProcess(file: string, env: NodeJS.ProcessEnv = {}, timeoutMs = 20_000): Promise<{ svc: ServiceProcess; url: string }> {
  const svc = spawnService('api', file, env);
  const url = await waitFor(() => /API listening on (http:\/\/[\d.:]+)/.exec(svc.output())?.[1], { timeoutMs, intervalMs: 100, what: 'the API process to listen' }).catch(
    async (err: Error) => {
      await svc.stop();
      throw new Error(`${err.message}\n${svc.output()}`);
    },
  );
  return { svc, url };
}
