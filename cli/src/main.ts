#!/usr/bin/env node
import { Command } from 'commander';
import { DEFAULT_CONFIG_PATH } from '@portal-failover/shared/paths';
import { DEMO_PORTS, parsePorts, type DemoPorts } from './demo/ports';
import { registerOnCallCommands } from './commands';
import { registerLiveness } from './commands/liveness';
import { registerStatusPage } from './commands/status-page';
import { registerEvidence } from './commands/evidence';
import { registerDrill } from './commands/drill';
import { registerContext } from './commands/context';
import { registerCompletion } from './commands/completion';
import { cliVersion } from './version';

// Each command loads what it runs when it runs (dynamic import): printing --help, or running an on-call command,
// must not load the service stack, Redis, BullMQ or the config schema (see CONTRIBUTING.md, "Entry points").
const program = new Command('portal-failover')
  .description('Failover orchestration for public-service portals')
  .version(cliVersion(), '-V, --version', 'print the version');

program
  .command('validate')
  .argument('[file]', 'config file', process.env.FAILOVER_CONFIG ?? DEFAULT_CONFIG_PATH)
  .description('validate a config file; lists every problem with its path')
  .action(async (file: string) => {
    const { ConfigError, endedRiskWindowIssues, formatPath, loadConfig } = await import('@portal-failover/shared/config');
    try {
      const config = loadConfig(file);
      const ended = endedRiskWindowIssues(config.portals, Date.now());
      if (ended.length) {
        process.stderr.write(`${file}: ${ended.length} problem(s)\n${ended.map((i) => `  ${formatPath(i.path)}: ${i.message}`).join('\n')}\n`);
        process.exit(2);
      }
      const sites = config.portals.reduce((n, p) => n + p.sites.length, 0);
      process.stdout.write(`${file}: OK (${config.portals.length} portal(s), ${sites} site(s))\n`);
    } catch (err) {
      if (err instanceof ConfigError) {
        process.stderr.write(`${err.message}\n`);
        process.exit(2);
      }
      throw err;
    }
  });

program
  .command('start')
  .description('run checker, controller and API in one process')
  .option('-c, --config <file>', 'config file', process.env.FAILOVER_CONFIG ?? DEFAULT_CONFIG_PATH)
  .action(async (opts: { config: string }) => {
    const [{ createLogger, limitHeapGrowth, loadConfigOrExit, logUnhandled }, { startAllInOne }, { firstStartLine }] = await Promise.all([
      import('@portal-failover/shared'),
      import('./all-in-one'),
      import('./first-start'),
    ]);
    limitHeapGrowth();
    const logger = createLogger();
    logUnhandled(logger);
    const config = loadConfigOrExit(opts.config);
    let app;
    try {
      app = await startAllInOne(config, logger, undefined, { configPath: opts.config });
    } catch (err) {
      logger.error((err as Error).message);
      process.exit(1);
    }
    logger.info(`portal-failover running: API ${app.apiUrl}, ${config.portals.length} portal(s), config ${opts.config}`);
    process.stdout.write(await firstStartLine(config, app.apiUrl, opts.config));
    let stopping = false;
    const stop = (sig: string) => {
      if (stopping) return;
      stopping = true;
      logger.info(`${sig} received, stopping`);
      setTimeout(() => process.exit(1), 10_000).unref();
      void app.stop().then(() => process.exit(0));
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
  });

program
  .command('demo')
  .description('simulate a provider cutting off the primary site and watch the failover happen')
  .option('--keep-running', 'after the failover, keep the simulated sites and the service up (fixed ports) for the CLI, until Ctrl-C')
  .option('--ports <api,primary,standby>', 'ports of the API and the two simulated sites with --keep-running', parsePorts, DEMO_PORTS)
  .action(async (opts: { keepRunning?: boolean; ports: DemoPorts }) => {
    const { runDemo } = await import('./demo/demo');
    process.exitCode = await runDemo({ keepRunning: opts.keepRunning, ports: opts.keepRunning ? opts.ports : undefined });
  });

registerOnCallCommands(program);
registerLiveness(program);
registerStatusPage(program);
registerEvidence(program);
registerDrill(program);
registerContext(program);
registerCompletion(program);

program.parseAsync().catch((err: unknown) => {
  process.stderr.write(`portal-failover: ${(err as Error).message}\n`);
  process.exit(1);
});
