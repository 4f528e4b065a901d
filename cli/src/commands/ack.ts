import type { Command } from 'commander';
import { timestamp } from '../format';
import { apiCommand, client, dump, enc, machine, out, run, type ConnectionOptions } from './common';

interface AckOptions extends ConnectionOptions {
  reason: string;
}

export function registerAck(program: Command): void {
  apiCommand(program, 'ack')
    .description('acknowledge the last automatic switch, lifting the anti-flap cooldown')
    .argument('<portal>', 'portal id')
    .requiredOption('--reason <text>', 'why (goes to the audit log)')
    .action(
      run(async (portal: string, opts: AckOptions) => {
        const r = await client(opts).post<{ portal: string; acknowledged: { at: number; actor: string; reason: string } }>(`/api/v1/portals/${enc(portal)}/ack`, { reason: opts.reason });
        out(machine(opts) ? dump(opts, r) : `${r.portal}: acknowledged by ${r.acknowledged.actor} at ${timestamp(r.acknowledged.at)}; the cooldown no longer blocks automatic switching\n`);
      }),
    );
}
