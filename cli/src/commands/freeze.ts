import type { Command } from 'commander';
import type { ApiFreeze } from '../api-client';
import { parseUserDuration, timestamp } from '../format';
import { UsageError, apiCommand, client, dump, enc, machine, out, run, type ConnectionOptions } from './common';

interface FreezeOptions extends ConnectionOptions {
  reason: string;
  until?: string;
  for?: string;
}

/** The freeze end as the API wants it (ISO with offset), from either an absolute time or a length. */
export function freezeUntil(opts: { until?: string; for?: string }, now = Date.now()): string | undefined {
  if (opts.until !== undefined && opts.for !== undefined) throw new UsageError('give either --until or --for, not both');
  if (opts.for !== undefined) {
    const ms = parseUserDuration(opts.for);
    if (ms === undefined) throw new UsageError(`--for: "${opts.for}" is not a duration such as 30m or 2h`);
    return new Date(now + ms).toISOString();
  }
  if (opts.until !== undefined) {
    const ms = /^\d{4}-\d{2}-\d{2}/.test(opts.until) ? Date.parse(opts.until) : NaN;
    if (!Number.isFinite(ms)) throw new UsageError(`--until: "${opts.until}" is not an ISO 8601 time such as 2026-11-24T06:00:00Z`);
    // Normalised to UTC so a local time without offset means what the user's clock says.
    return new Date(ms).toISOString();
  }
  return undefined;
}

export function registerFreeze(program: Command): void {
  apiCommand(program, 'freeze')
    .description('pause automatic switching for a portal (manual switchovers then need --force)')
    .argument('<portal>', 'portal id')
    .requiredOption('--reason <text>', 'why (goes to the audit log)')
    .option('--until <time>', 'ISO 8601 end, e.g. 2026-11-24T06:00:00Z')
    .option('--for <duration>', 'length, e.g. 30m or 2h')
    .action(
      run(async (portal: string, opts: FreezeOptions) => {
        const until = freezeUntil(opts);
        const r = await client(opts).post<{ portal: string; frozen: ApiFreeze }>(`/api/v1/portals/${enc(portal)}/freeze`, { reason: opts.reason, ...(until ? { until } : {}) });
        out(machine(opts) ? dump(opts, r) : `${r.portal}: automation frozen by ${r.frozen.actor} ${r.frozen.until !== undefined ? `until ${timestamp(r.frozen.until)}` : 'until unfrozen'}\n`);
      }),
    );
}
