import { fork, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { countChecks, type ChildMetrics, type ChildReply, type ChildRequest, type Config, type Logger } from '@portal-failover/shared';

/** With fewer checks, one process has CPU to spare and a second would only add its memory. */
export const CHILD_PROCESS_FROM_CHECKS = 1_000;
/**
 * How long a scrape waits for the child's checker families. Under Prometheus' default scrape_timeout (10 s), and the
 * parent renders its own families meanwhile. A checker saturated by its probes (bench runs at 25,000 endpoints on
 * a slow day) did not answer within the 2 s this was before, and leaving its families out looks like a silent
 * checker to the alerts.
 */
const METRICS_TIMEOUT_MS = 8_000;
const RESTART_MIN_MS = 1_000;
const RESTART_MAX_MS = 30_000;

/** Whether `npm start` forks its checker (checker.childProcess); a config that came from no file cannot be re-read by a child. */
export function wantsChildProcess(config: Config, configPath: string | undefined, cpus = os.availableParallelism()): boolean {
  const want = config.checker.childProcess;
  if (configPath === undefined) return false;
  if (want !== 'auto') return want;
  return cpus >= 2 && countChecks(config) >= CHILD_PROCESS_FROM_CHECKS;
}

/**
 * The all-in-one's checker in a process of its own: the standalone checker (services/checker) forked with the same
 * config file and environment, so probing and the controller each get a core. Its log lines go to the same output;
 * its checker metrics are asked for over IPC at every scrape (metricsText serves them in place of this process's). If it dies it is started again after
 * a pause that doubles up to 30 s; meanwhile the vantage's results stop, which the controller reports as stale.
 */
export class CheckerChild {
  private child: ChildProcess | undefined;
  private stopping = false;
  private restartMs = RESTART_MIN_MS;
  private restartTimer: NodeJS.Timeout | undefined;
  private nextId = 0;
  private readonly waiting = new Map<number, (text: string) => void>();
  private readonly log: Logger;

  constructor(
    private readonly configPath: string,
    logger: Logger,
    private readonly script = path.join(path.dirname(require.resolve('@portal-failover/checker')), 'main.js'),
  ) {
    this.log = logger.child({ component: 'checker-child' });
  }

  /** Resolves once the child's checker started (it serves metrics from then on), or rejects when it exits first. */
  start(): Promise<void> {
    const child = fork(this.script, [], {
      env: { ...process.env, FAILOVER_CONFIG: path.resolve(this.configPath) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child = child;
    const started = new Promise<void>((resolve, reject) => {
      child.on('message', (msg: ChildReply) => {
        if (msg?.type === 'started') return resolve();
        if (msg?.type !== 'metrics') return;
        this.waiting.get(msg.id)?.(msg.text);
        this.waiting.delete(msg.id);
      });
      child.once('exit', (code, signal) => reject(new Error(`the checker process exited before it started (${signal ?? `exit code ${code}`})`)));
    });
    child.on('exit', (code, signal) => {
      for (const done of this.waiting.values()) done('');
      this.waiting.clear();
      if (this.stopping || this.child !== child) return;
      this.log.error(`the checker process ${child.pid} exited (${signal ?? `exit code ${code}`}); starting it again in ${this.restartMs / 1000} s`);
      this.restartTimer = setTimeout(() => {
        this.restartMs = Math.min(RESTART_MAX_MS, this.restartMs * 2);
        this.start().then(
          () => (this.restartMs = RESTART_MIN_MS),
          (err: Error) => this.log.error(err.message),
        );
      }, this.restartMs);
    });
    this.log.info(`checker runs in process ${child.pid}`);
    return started;
  }

  /** The child's checker families as text; rejects when it does not answer within METRICS_TIMEOUT_MS (they are then left out of a scrape). */
  readonly metrics: ChildMetrics = () =>
    new Promise((resolve, reject) => {
      const child = this.child;
      if (!child?.connected) return reject(new Error('the checker process is not running'));
      const id = this.nextId++;
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`the checker process did not send its metrics within ${METRICS_TIMEOUT_MS / 1000} s`));
      }, METRICS_TIMEOUT_MS);
      this.waiting.set(id, (m) => {
        clearTimeout(timer);
        resolve(m);
      });
      child.send({ type: 'metrics', id } satisfies ChildRequest);
    });

  /** SIGTERM (the checker finishes its probes and sends their results), SIGKILL after 10 s. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(kill);
  }
}
