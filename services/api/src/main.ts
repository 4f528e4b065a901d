#!/usr/bin/env node
import { runService } from '@portal-failover/shared';
import { startApi } from './server';

void runService('api', async (ctx) => {
  const api = await startApi({ config: ctx.config, redis: ctx.redis, metrics: ctx.metrics, logger: ctx.logger });
  return api.stop;
});
