#!/usr/bin/env node
import { runService } from '@portal-failover/shared';
import { Checker } from './checker';

void runService('checker', async (ctx) => {
  const checker = new Checker({
    config: ctx.config,
    bullConnection: ctx.bullConnection,
    redis: ctx.redis,
    logger: ctx.logger,
    metrics: ctx.metrics,
  });
  await checker.start();
  return () => checker.stop();
  // Least privilege: a checker runs in other networks and holds only its vantage key and Redis credentials;
  // provider secrets referenced by the shared config are validated for shape but never resolved here.
}, { withholdSecrets: 'a checker holds only its vantage key and Redis credentials' });
