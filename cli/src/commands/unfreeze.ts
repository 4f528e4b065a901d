import type { Command } from 'commander';

import { apiCommand, client, dump, enc, machine, out, run, type ConnectionOptions } from './common';

interface UnfreezeOptions extends ConnectionOptions {
  reason?: string;
}

export function registerUnfreeze(program: Command): void {
  apiCommand(program, 'unfreeze')
    .description('resume automatic switching for a portal')
    .argument('<portal>', 'portal id')
    .option('--reason <text>', 'why (goes to the audit log)')
    .action(
      run(async (portal: string, opts: UnfreezeOptions) => {
        const r = await client(opts).post<{ portal: string; frozen: null }>(`/api/v1/portals/${enc(portal)}/unfreeze`, opts.reason !== undefined ? { reason: opts.reason } : {});
        out(machine(opts) ? dump(opts, r) : `${r.portal}: automation resumed\n`);
      }),
    );
}
