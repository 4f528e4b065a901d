import type { Command } from 'commander';
import { exportStatusPage } from '@portal-failover/api';
import { createRedis, DEFAULT_CONFIG_PATH, loadConfigOrExit } from '@portal-failover/shared';
import { out, run, usageExitCodes } from './common';

/**
 * `status-page export DIR`: the public page and JSON as static files, read straight from Redis with the config
 * (no API token needed, no API needed), so a postSwitch hook can publish them even when the API is down.
 */
export function registerStatusPage(program: Command): void {
  const sp = usageExitCodes(program.command('status-page')).description('the public status page');
  usageExitCodes(sp.command('export'))
    .description('write the public status page (index.html, vi/, en/) and status.json into DIR')
    .argument('<dir>', 'output directory (created if missing)')
    .option('-c, --config <file>', 'config file', process.env.FAILOVER_CONFIG ?? DEFAULT_CONFIG_PATH)
    .action(
      run(async (dir: string, opts: { config: string }) => {
        const config = loadConfigOrExit(opts.config);
        const redis = createRedis(config.redis, 'command');
        try {
          const files = await exportStatusPage(config, redis, dir);
          out(files.map((f) => `wrote ${f}\n`).join(''));
        } finally {
          redis.disconnect();
        }
      }),
    );
}
