import type { Command } from 'commander';
import type { ApiRiskWindow, ApiRiskWindows } from '../api-client';
import { table } from '../format';
import { apiCommand, client, dump, enc, machine, out, run, usageExitCodes, type ConnectionOptions } from './common';

interface AddOptions extends ConnectionOptions {
  name: string;
  start: string;
  duration: string;
  leadTime: string;
  lowerTtlTo: string;
  probeInterval?: string;
  reason?: string;
}

type WindowRow = ApiRiskWindows['windows'][number];

function rows(windows: WindowRow[]): string {
  return table(
    ['WINDOW', 'PHASE', 'START (as announced)', 'END', 'PREPARE FROM', 'TTL', 'LOWERED', 'SOURCE'],
    windows.map((w) => [w.name, w.phase, `${w.start} (${w.startUtc})`, w.end, w.prepareFrom, `${w.lowerTtlTo}s`, w.ttlLowered ? 'yes' : 'no', w.source]),
  );
}

/** `risk-windows list|add|delete`: announced cuts through the API (docs/configuration.md, portals[].riskWindows). */
export function registerRiskWindows(program: Command): void {
  const group = usageExitCodes(program.command('risk-windows')).description('announced cuts: TTLs lowered ahead of them and restored after');

  apiCommand(group, 'list')
    .description('the risk windows of a portal (config and announced), with phase and times in their own zone')
    .argument('<portal>', 'portal id')
    .action(
      run(async (portal: string, opts: ConnectionOptions) => {
        const r = await client(opts).get<ApiRiskWindows>(`/api/v1/portals/${enc(portal)}/risk-windows`);
        if (machine(opts)) return out(dump(opts, r));
        const lowered = r.ttlLowered ? `DNS TTLs lowered to ${r.ttlLowered.ttl}s for "${r.ttlLowered.window}" since ${r.ttlLowered.at}` : 'DNS TTLs as configured';
        out(`${r.portal}: ${lowered}\n${r.windows.length ? rows(r.windows) : 'no risk windows\n'}`);
      }),
    );

  apiCommand(group, 'add')
    .description('announce a cut (role operator): from start − lead time the leader lowers every DNS TTL')
    .argument('<portal>', 'portal id')
    .requiredOption('--name <name>', 'window name, e.g. billing-cutoff')
    .requiredOption('--start <time>', 'ISO 8601 with its zone, e.g. 2027-07-04T00:00:00+07:00')
    .requiredOption('--duration <duration>', 'how long the cut may come, e.g. 6h')
    .requiredOption('--lead-time <duration>', 'how long before the start to lower the TTLs, e.g. 2h')
    .requiredOption('--lower-ttl-to <ttl>', 'the TTL during the window, e.g. 5s')
    .option('--probe-interval <duration>', 'a shorter check interval for the window')
    .option('--reason <text>', 'the announcement (goes to the audit log)')
    .action(
      run(async (portal: string, opts: AddOptions) => {
        const body = {
          name: opts.name,
          start: opts.start,
          duration: opts.duration,
          leadTime: opts.leadTime,
          lowerTtlTo: opts.lowerTtlTo,
          ...(opts.probeInterval !== undefined ? { probeInterval: opts.probeInterval } : {}),
          ...(opts.reason !== undefined ? { reason: opts.reason } : {}),
        };
        const r = await client(opts).post<ApiRiskWindow>(`/api/v1/portals/${enc(portal)}/risk-windows`, body);
        out(machine(opts) ? dump(opts, r) : `${r.portal}: risk window "${r.window.name}" announced: ${r.window.start} to ${r.window.end}, TTLs lowered to ${r.window.lowerTtlTo}s from ${r.window.prepareFrom}\n`);
      }),
    );

  apiCommand(group, 'delete')
    .description('withdraw an announced window (role operator); lowered TTLs are restored')
    .argument('<portal>', 'portal id')
    .argument('<name>', 'window name')
    .option('--reason <text>', 'why (goes to the audit log)')
    .action(
      run(async (portal: string, name: string, opts: ConnectionOptions & { reason?: string }) => {
        const r = await client(opts).delete<ApiRiskWindow>(`/api/v1/portals/${enc(portal)}/risk-windows/${enc(name)}`, opts.reason !== undefined ? { reason: opts.reason } : {});
        out(machine(opts) ? dump(opts, r) : `${r.portal}: risk window "${r.window.name}" withdrawn\n`);
      }),
    );
}
