import type { Command } from 'commander';
import { DEFAULT_CONFIG_PATH } from '@portal-failover/shared/paths';
import { out, run, usageExitCodes, UsageError } from './common';

/**
 * `drill run PORTAL --mode dryRun|roundTrip`: one drill now, recorded and audited like a scheduled one. Reads
 * Redis with the config; a roundTrip asks the leader controller to switch (through the same intent path as an
 * operator) and needs a configured drill for the portal with allowTrafficMove: true.
 */
export function registerDrill(program: Command): void {
  const drill = usageExitCodes(program.command('drill')).description('failover drills');
  usageExitCodes(drill.command('run'))
    .description('run one drill now and print its outcome (exit 1 unless it succeeded)')
    .argument('<portal>', 'portal id')
    .option('--mode <mode>', 'dryRun (preconditions only) or roundTrip (switch to the standby and back)', 'dryRun')
    .option('-c, --config <file>', 'config file', process.env.FAILOVER_CONFIG ?? DEFAULT_CONFIG_PATH)
    .action(
      run(async (portal: string, opts: { mode: string; config: string }) => {
        if (opts.mode !== 'dryRun' && opts.mode !== 'roundTrip') throw new UsageError(`--mode: "${opts.mode}" is neither dryRun nor roundTrip`);
        // Loaded only when a drill runs: --help and the other commands must not load the service stack.
        const [{ DrillRunner }, { AuditLog, ControlStore, createLogger, createMetrics, createRedis, DrillStore, keys, loadConfigOrExit, RiskWindowStore, StateStore, ttlTarget }] = await Promise.all([
          import('@portal-failover/controller'),
          import('@portal-failover/shared'),
        ]);
        const config = loadConfigOrExit(opts.config);
        if (!config.portals.some((p) => p.id === portal)) throw new UsageError(`unknown portal "${portal}" (known: ${config.portals.map((p) => p.id).join(', ')})`);
        const defined = config.drills.find((d) => d.portal === portal && d.mode === 'roundTrip' && d.allowTrafficMove);
        if (opts.mode === 'roundTrip' && !defined) throw new UsageError(`roundTrip moves real traffic: configure a drill for ${portal} with mode roundTrip and allowTrafficMove: true first`);
        const redis = createRedis(config.redis, 'command');
        try {
          const k = keys(config.redis.prefix);
          const store = new StateStore(redis, k);
          const control = new ControlStore(redis, k);
          const [state, controls] = await Promise.all([store.loadState(portal), control.read([portal])]);
          const c = controls.get(portal);
          // The freeze record is the API's; the stored state may lag behind it by one evaluation.
          const view = state ? { ...state, frozen: c?.freeze } : undefined;
          const windows = await new RiskWindowStore(redis, k).forPortal(config.portals.find((p) => p.id === portal)!);
          const runner = new DrillRunner({
            config,
            store,
            control,
            drills: new DrillStore(redis, config.redis.prefix),
            audit: new AuditLog(redis, k.audit, config.audit.retention, Date.now, { maxEntries: config.audit.maxEntries }),
            metrics: createMetrics(undefined, { defaultMetrics: false }),
            logger: createLogger({ silent: true }),
            now: Date.now,
            state: () => view,
            riskWindow: () => ttlTarget(windows, Date.now())?.window,
          });
          const rec = await runner.run({ portal, mode: opts.mode, holdFor: defined?.holdFor ?? 0 }, 'manual');
          out(`drill ${rec.id} (${rec.mode}) ${rec.outcome}: ${rec.detail}\n`);
          for (const p of rec.preconditions ?? []) out(`  ${p.ok ? 'ok  ' : 'FAIL'} ${p.check}: ${p.detail}\n`);
          return rec.outcome === 'succeeded' ? 0 : 1;
        } finally {
          redis.disconnect();
        }
      }),
    );
}
