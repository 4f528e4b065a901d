import type { TokenRegistry } from './auth';
import type { ApiContext } from './context';

/**
 * Re-reads the token file and audits it as `tokens.reloaded`: the names added, removed and changed, or why the
 * file was refused. One path for the file watcher, SIGHUP and the admin route, so each leaves the same record.
 */
export async function reloadTokensAudited(ctx: ApiContext, why: string, actor: string, client?: string): Promise<ReturnType<TokenRegistry['reload']>> {
  const r = ctx.tokens.reload();
  const file = ctx.config.api.tokenFile;
  const data = r.ok ? { added: r.added, removed: r.removed, changed: r.changed, file } : { refused: r.error, file };
  await ctx.audit.append({ type: 'tokens.reloaded', actor, ...(client ? { client } : {}), reason: why, data });
  return r;
}
