import type { Command } from 'commander';
import type { ApiOperation } from '../api-client';
import { table, timestamp } from '../format';
import { apiCommand, client, dump, enc, machine, out, positiveInt, run, type ConnectionOptions } from './common';
import { switchText, totalDuration } from './operation';

interface OperationsOptions extends ConnectionOptions {
  limit?: number;
  cursor?: string;
}

export function registerOperations(program: Command): void {
  apiCommand(program, 'operations')
    .description('recent operations of a portal, newest first')
    .argument('<portal>', 'portal id')
    .option('--limit <n>', 'how many (1-200, default 20)', positiveInt(200))
    .option('--cursor <next>', 'the page after a previous one (its `next`)')
    .action(
      run(async (portal: string, opts: OperationsOptions) => {
        const r = await client(opts).get<{ operations: ApiOperation[]; next?: string }>(`/api/v1/portals/${enc(portal)}/operations`, { limit: opts.limit, cursor: opts.cursor });
        if (machine(opts)) return out(dump(opts, r));
        if (!r.operations.length) return out(`${portal}: no operations yet\n`);
        out(
          table(
            ['ID', 'STATUS', 'SWITCH', 'TRIGGER', 'ACTOR', 'DECIDED', 'TOOK', 'REASON'],
            r.operations.map((o) => [o.id, o.status, switchText(o), `${o.trigger}${o.force ? ' (forced)' : ''}`, o.actor, timestamp(o.decidedAt), totalDuration(o), o.error ? `${o.reason} [${o.error}]` : o.reason]),
          ) + (r.next ? `more: portal-failover operations ${portal} --cursor ${r.next}\n` : ''),
        );
      }),
    );
}
