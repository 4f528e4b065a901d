import type { Command } from 'commander';
import type { ApiAuditEntry, ApiAuditPage, ApiAuditVerify, ApiClient } from '../api-client';
import { parseInstantOrAgo, table, timestamp } from '../format';
import { UsageError, apiCommand, client, dump, machine, out, positiveInt, run, type ConnectionOptions, usageExitCodes } from './common';

interface AuditOptions extends ConnectionOptions {
  portal?: string;
  type?: string;
  since?: string;
  limit?: number;
  pageSize?: number;
}

interface VerifyOptions extends ConnectionOptions {
  checkpoint?: string;
  publicKey?: string;
}

/**
 * Reads the checkpoint file and checks its signature here, before asking the API: the API (and the Redis behind
 * it) is what is being checked, so it must not be the one to judge the signature.
 */
async function checkpointToCompare(file: string, publicKey: string | undefined): Promise<{ ok: true; seq: number; hash: string } | { ok: false; problem: string }> {
  const { parseCheckpoint, checkpointSignatureProblem, parseCheckpointPublicKey } = await import('@portal-failover/shared/audit');
  const { readFileSync } = await import('node:fs');
  const read = (path: string, flag: string): string => {
    try {
      return readFileSync(path, 'utf8');
    } catch (err) {
      throw new UsageError(`${flag}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`);
    }
  };
  const parsed = parseCheckpoint(read(file, '--checkpoint'));
  if (!parsed.ok) throw new UsageError(`--checkpoint: ${file} ${parsed.error}`);
  let trusted;
  if (publicKey !== undefined) {
    const k = parseCheckpointPublicKey(publicKey.startsWith('file:') ? read(publicKey.slice('file:'.length), '--public-key') : publicKey);
    if (!k.ok) throw new UsageError(`--public-key ${k.error}`);
    trusted = k.key;
  }
  const c = parsed.checkpoint;
  const problem = checkpointSignatureProblem(c, trusted);
  if (problem) return { ok: false, problem: `${file}: ${problem}` };
  if (!trusted) process.stderr.write('note: signature checked with the key the checkpoint carries; pass --public-key to check it is yours\n');
  return { ok: true, seq: c.count, hash: c.hash };
}

/** The biggest page the API serves: an export of a busy week should take few round trips. */
const EXPORT_PAGE = 1000;

function sinceParam(since: string | undefined): string | undefined {
  if (since === undefined) return undefined;
  const ms = parseInstantOrAgo(since);
  if (ms === undefined) throw new UsageError(`--since: "${since}" is neither an ISO 8601 time (2026-11-23T08:00:00Z) nor a duration ago (24h)`);
  // Epoch milliseconds: the one form the API takes whatever the user's time zone notation was.
  return String(Math.max(0, Math.floor(ms)));
}

/** The gist of an entry's data in a few words, so the table answers "what happened" without --json. */
function gist(e: ApiAuditEntry): string {
  const d = e.data ?? {};
  const s = (k: string) => (typeof d[k] === 'string' || typeof d[k] === 'number' || typeof d[k] === 'boolean' ? String(d[k]) : undefined);
  switch (e.type) {
    case 'operation.requested':
    case 'operation.started':
      return `${s('from') ?? '?'} -> ${s('to') ?? '?'}${d.force === true ? ' (forced)' : ''}`;
    case 'operation.finished':
      return `${s('result') ?? '?'}${s('error') ? `: ${s('error')}` : ''}`;
    case 'operation.rejected':
      return s('why') ?? '';
    case 'freeze':
      return s('until') ? `until ${s('until')}` : 'until unfrozen';
    case 'alert.received':
      return [s('outcome'), s('detail')].filter(Boolean).join(': ');
    default:
      return '';
  }
}

async function* pages(api: ApiClient, query: Record<string, string | number | undefined>): AsyncGenerator<ApiAuditEntry[]> {
  let cursor: string | undefined;
  for (;;) {
    const page = await api.get<ApiAuditPage>('/api/v1/audit', { ...query, cursor });
    yield page.entries;
    // The API returns `next` whenever a page is full, so an exactly full last page costs one more (empty) request.
    if (!page.next || page.entries.length === 0) return;
    cursor = page.next;
  }
}

export function registerAudit(program: Command): void {
  const audit = apiCommand(program, 'audit')
    .description('audit log, oldest first: who did what, when and why')
    .option('--portal <id>', 'only this portal')
    .option('--type <type>', 'only this type, e.g. operation (all operation.*), freeze, ack')
    .option('--since <time>', 'ISO 8601 time, or a duration ago such as 24h')
    .option('--limit <n>', 'how many entries (1-1000, default 100)', positiveInt(1000))
    .action(
      run(async (opts: AuditOptions) => {
        const api = client(opts);
        const r = await api.get<ApiAuditPage>('/api/v1/audit', { portal: opts.portal, type: opts.type, since: sinceParam(opts.since), limit: opts.limit });
        if (machine(opts)) return out(dump(opts, r));
        if (!r.entries.length) return out('no audit entries match\n');
        out(table(['AT', 'TYPE', 'PORTAL', 'ACTOR', 'OPERATION', 'REASON', 'DETAIL'], r.entries.map((e) => [timestamp(e.at), e.type, e.portal, e.actor, e.operation, e.reason, gist(e)])));
        if (r.next) out(`(more entries follow: raise --limit, narrow with --since, or use \`portal-failover audit export\`)\n`);
      }),
    );

  usageExitCodes(audit.command('export'))
    .description('every matching entry as JSON lines (one entry per line) on stdout, all pages')
    .option('--portal <id>', 'only this portal')
    .option('--type <type>', 'only this type')
    .option('--since <time>', 'ISO 8601 time, or a duration ago such as 24h')
    .option('--page-size <n>', `entries per API request (1-1000, default ${EXPORT_PAGE})`, positiveInt(1000))
    .action(
      run(async (_opts: AuditOptions, cmd: Command) => {
        // Without positional options commander lets the parent `audit` take --portal/--since/--url even after
        // `export`, so the values are read from both levels.
        const opts = cmd.optsWithGlobals<AuditOptions>();
        if (opts.limit !== undefined) throw new UsageError('--limit does not apply to audit export, which writes every matching entry');
        const api = client(opts);
        const query = { portal: opts.portal, type: opts.type, since: sinceParam(opts.since), limit: opts.pageSize ?? EXPORT_PAGE };
        for await (const entries of pages(api, query)) {
          if (entries.length) out(entries.map((e) => JSON.stringify(e)).join('\n') + '\n');
        }
      }),
    );

  usageExitCodes(audit.command('verify'))
    .description('check every link of the audit hash chain; exit 1 naming the first entry where it breaks')
    .option('--checkpoint <file>', "a witness's signed checkpoint (JSON, or JSON lines: the last is taken): check its signature, then that the chain still holds its entry with its hash")
    .option('--public-key <key>', 'Ed25519 public key the checkpoint must be signed with: base64 SPKI, a PEM block, or file:/path to either')
    .action(
      run(async (_opts: VerifyOptions, cmd: Command) => {
        const opts = cmd.optsWithGlobals<VerifyOptions>();
        if (opts.publicKey !== undefined && opts.checkpoint === undefined) throw new UsageError('--public-key goes with --checkpoint');
        const want = opts.checkpoint === undefined ? undefined : await checkpointToCompare(opts.checkpoint, opts.publicKey);
        if (want && !want.ok) {
          out(machine(opts) ? dump(opts, { ok: false, checkpoint: { ok: false, detail: want.problem }, message: want.problem }) : `checkpoint REJECTED: ${want.problem}\n`);
          return 1;
        }
        const api = client(opts);
        const r = await api.get<ApiAuditVerify>('/api/v1/audit/verify', want ? { seq: want.seq, hash: want.hash } : {});
        out(machine(opts) ? dump(opts, r) : `${r.message}\n`);
        return r.ok ? 0 : 1;
      }),
    );
}
