#!/usr/bin/env node
import { runService } from '@portal-failover/shared';
import { Controller } from './controller';

void runService('controller', async (ctx) => {
  const controller = new Controller({
    config: ctx.config,
    redis: ctx.redis,
    bullConnection: ctx.bullConnection,
    logger: ctx.logger,
    metrics: ctx.metrics,
  });
  await controller.start();
  return () => controller.stop();
});
