#!/usr/bin/env node
import { runService } from '@portal-failover/shared';
import { Checker } from './checker';

void runService('checker', async (ctx) => {
  const checker = new Checker({
    config: ctx.config,
    bullConnection: ctx.bullConnection,
    logger: ctx.logger,
    metrics: ctx.metrics,
  });
  await checker.start();
  return () => checker.stop();
});
