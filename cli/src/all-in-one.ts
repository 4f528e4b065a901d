import { Checker } from '@portal-failover/checker';
import { Controller } from '@portal-failover/controller';
import { startApi } from '@portal-failover/api';
import { closeServiceContext, createServiceContext, type Config, type Logger, type Metrics } from '@portal-failover/shared';

export interface AllInOne {
  apiUrl: string;
  controller: Controller;
  checker: Checker;
  stop(): Promise<void>;
}

/** Checker, controller and API in one process: the small-install default behind `npm start`. */
export async function startAllInOne(config: Config, logger: Logger, metrics?: Metrics): Promise<AllInOne> {
  const ctx = await createServiceContext(config, logger, metrics);
  const controller = new Controller({ config, redis: ctx.redis, bullConnection: ctx.bullConnection, logger, metrics: ctx.metrics });
  const checker = new Checker({ config, bullConnection: ctx.bullConnection, logger, metrics: ctx.metrics });
  await controller.start();
  await checker.start();
  const api = await startApi({ config, redis: ctx.redis, metrics: ctx.metrics, logger });
  return {
    apiUrl: api.url,
    controller,
    checker,
    stop: async () => {
      await api.stop();
      await checker.stop();
      await controller.stop();
      await closeServiceContext(ctx);
    },
  };
}
