import { Checker } from '@portal-failover/checker';
import { Controller } from '@portal-failover/controller';
import { startApi } from '@portal-failover/api';
import { closeServiceContext, createServiceContext, type Config, type Logger, type Metrics } from '@portal-failover/shared';
import { CheckerChild, wantsChildProcess } from './checker-child';

export interface AllInOne {
  apiUrl: string;
  controller: Controller;
  /** The checker, when it runs in this process; undefined when it runs in a child process (checker.childProcess). */
  checker: Checker | undefined;
  stop(): Promise<void>;
}

export interface AllInOneOptions {
  /** The file the config was read from; a forked checker reads it too. Without it the checker runs in this process. */
  configPath?: string;
}

/** Checker, controller and API in one `npm start`: the small-install default; a large config forks the checker. */
export async function startAllInOne(config: Config, logger: Logger, metrics?: Metrics, opts: AllInOneOptions = {}): Promise<AllInOne> {
  const ctx = await createServiceContext(config, logger, metrics);
  const controller = new Controller({ config, redis: ctx.redis, bullConnection: ctx.bullConnection, logger, metrics: ctx.metrics });
  const child = wantsChildProcess(config, opts.configPath) ? new CheckerChild(opts.configPath!, logger) : undefined;
  const checker = child ? undefined : new Checker({ config, bullConnection: ctx.bullConnection, logger, metrics: ctx.metrics });
  await controller.start();
  if (child) {
    await child.start();
    ctx.metrics.children.push(child.metrics);
  }
  await checker?.start();
  const api = await startApi({ config, redis: ctx.redis, metrics: ctx.metrics, logger });
  return {
    apiUrl: api.url,
    controller,
    checker,
    stop: async () => {
      await api.stop();
      await Promise.all([checker?.stop(), child?.stop()]);
      await controller.stop();
      await closeServiceContext(ctx);
    },
  };
}
