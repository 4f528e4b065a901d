import type { Command } from 'commander';
import { DEFAULT_CONFIG_PATH } from '@portal-failover/shared/paths';
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
        // Loaded here, not at the top: --help and the other commands do not need the API, Redis or the schema.
        const [{ exportStatusPage }, { createRedis, loadConfigOrExit }] = await Promise.all([import('@portal-failover/api'), import('@portal-failover/shared')]);
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
