import { Option, type Command } from 'commander';
import { confirm } from '../confirm';
import { ApiError, ConnectionError, type ApiClient, type ApiDryRun, type ApiOperation } from '../api-client';
import { duration, parseUserDuration } from '../format';
import { UsageError, apiCommand, client, dump, enc, machine, out, run, type ConnectionOptions } from './common';
import { stepDetail, switchText, TERMINAL, totalDuration } from './operation';

interface SwitchoverOptions extends ConnectionOptions {
  to: string;
  reason: string;
  overridePreconditions?: boolean;
  /** The old name of --override-preconditions, still accepted so scripts keep working. */
  force?: boolean;
  yes?: boolean;
  dryRun?: boolean;
  wait: boolean;
  timeout: string;
}

/** Fast enough to show each step as it happens, slow enough to be no load on the API's rate limit (300/min). */
const POLL_MS = 500;

function dryRunText(d: ApiDryRun): string {
  const lines = [`Dry run: switchover of ${d.portal} from ${d.from} to ${d.to}. Nothing was changed.`, '', 'Preconditions:'];
  for (const p of d.preconditions) lines.push(`  ${p.ok ? 'ok  ' : 'FAIL'}  ${p.check}: ${p.detail}`);
  lines.push('', 'Plan:');
  for (const s of d.plan) {
    lines.push(`  step ${s.step}: ${s.label}`);
    if (s.error) lines.push(`    cannot plan: ${s.error}`);
    else {
      lines.push(`    ${s.changes ? 'change' : 'no change needed'}: ${s.description ?? ''}`);
      if (s.request) lines.push(`    request: ${JSON.stringify(s.request)}`);
    }
  }
  lines.push('', d.wouldProceed ? 'Would proceed: yes.' : 'Would proceed: no (see FAIL above; --override-preconditions overrides the health and freeze checks only).');
  return `${lines.join('\n')}\n`;
}

/** One line per change since the previous poll: the operation's status, and each step's status or retry. */
export function progressLines(prev: ApiOperation | undefined, cur: ApiOperation): string[] {
  const lines: string[] = [];
  for (const s of cur.steps) {
    const before = prev?.steps.find((p) => p.index === s.index);
    if (before?.status === s.status && before.attempts === s.attempts) continue;
    // A pending step that has not been touched says nothing new; it is listed once it starts.
    if (!before && s.status === 'pending') continue;
    const detail = stepDetail(s);
    lines.push(`step ${s.index + 1}/${cur.steps.length} ${s.label}: ${s.status}${detail ? `: ${detail}` : ''}`);
  }
  if (prev?.status === cur.status) return lines;
  const op = `operation ${cur.status}${cur.status === 'running' ? `: ${switchText(cur)}` : ''}${cur.error ? `: ${cur.error}` : ''}`;
  // Read as a story: a start comes before the steps it runs, an end after the steps that led to it (a fast switch
  // can go from pending to succeeded between two polls).
  return TERMINAL.has(cur.status) ? [...lines, op] : [op, ...lines];
}

async function follow(api: ApiClient, first: ApiOperation, timeoutMs: number, quiet: boolean): Promise<ApiOperation | undefined> {
  const started = Date.now();
  const say = (line: string) => {
    if (!quiet) out(`[+${duration(Date.now() - started)}] ${line}\n`);
  };
  let prev: ApiOperation | undefined;
  let cur = first;
  let lastNetworkError = '';
  for (;;) {
    for (const l of progressLines(prev, cur)) say(l);
    prev = cur;
    if (TERMINAL.has(cur.status)) return cur;
    if (Date.now() - started >= timeoutMs) return undefined;
    await new Promise((r) => setTimeout(r, POLL_MS));
    try {
      cur = await api.get<ApiOperation>(`/api/v1/operations/${enc(first.id)}`);
      lastNetworkError = '';
    } catch (err) {
      // The switch runs in the controller whatever happens to this connection; keep watching through API blips.
      if (!(err instanceof ConnectionError) && !(err instanceof ApiError && (err.status >= 500 || err.status === 429))) throw err;
      if (err.message !== lastNetworkError) say(`(still waiting: ${err.message})`);
      lastNetworkError = err.message;
    }
  }
}

export function registerSwitchover(program: Command): void {
  apiCommand(program, 'switchover')
    .description('move a portal to a site, checking the runbook preconditions; waits and shows each step until it is done')
    .argument('<portal>', 'portal id')
    .requiredOption('--to <site>', 'site to switch to')
    .requiredOption('--reason <text>', 'why (goes to the audit log)')
    .option('--override-preconditions', 'override the health and freeze preconditions (never a running operation)')
    .addOption(new Option('--force', 'old name of --override-preconditions').hideHelp())
    .option('-y, --yes', 'do not ask for confirmation (required when stdin is not a terminal)')
    .option('--dry-run', 'show the preconditions and the exact change per step; change nothing (exit 1 if it would not proceed)')
    .option('--no-wait', 'print the operation id and return at once')
    .option('--timeout <duration>', 'how long to wait for the result, e.g. 120s or 5m', '120s')
    .addHelpText('after', '\nExit code: 0 when the switch succeeded (or the dry run would proceed), 1 otherwise, 2 on a usage error.')
    .action(
      run(async (portal: string, opts: SwitchoverOptions) => {
        const timeoutMs = parseUserDuration(opts.timeout);
        if (timeoutMs === undefined) throw new UsageError(`--timeout: "${opts.timeout}" is not a duration such as 120s or 5m`);
        const api = client(opts);
        const path = `/api/v1/portals/${enc(portal)}/switchover`;
        const override = opts.overridePreconditions === true || opts.force === true;
        const body = { to: opts.to, reason: opts.reason, ...(override ? { force: true } : {}) };
        if (opts.dryRun) {
          const d = await api.post<ApiDryRun>(path, { ...body, dryRun: true });
          out(machine(opts) ? dump(opts, d) : dryRunText(d));
          return d.wouldProceed ? 0 : 1;
        }
        if (!opts.yes) {
          const confirmed = await confirm(`Switch ${portal} to ${opts.to}${override ? ', overriding the health and freeze preconditions' : ''} (${api.url})? Real traffic moves.`);
          if (!confirmed) return 1;
        }
        const op = await api.post<ApiOperation>(path, body);
        if (!opts.wait) {
          out(machine(opts) ? dump(opts, op) : `accepted: operation ${op.id} (${portal}: ${switchText(op)})\nfollow it with: portal-failover operation ${op.id}\n`);
          return 0;
        }
        if (!machine(opts)) out(`accepted: operation ${op.id} (${portal}: ${switchText(op)}); waiting up to ${duration(timeoutMs)}\n`);
        const done = await follow(api, op, timeoutMs, machine(opts));
        if (!done) {
          const last = await api.get<ApiOperation>(`/api/v1/operations/${enc(op.id)}`).catch(() => undefined);
          if (machine(opts) && last) out(dump(opts, last));
          process.stderr.write(
            `portal-failover: gave up waiting after ${duration(timeoutMs)}; operation ${op.id} is ${last?.status ?? 'in an unknown state'} and continues in the controller; follow it with: portal-failover operation ${op.id}\n`,
          );
          return 1;
        }
        if (machine(opts)) out(dump(opts, done));
        else if (done.status === 'succeeded') out(`succeeded: ${portal} now on ${done.to} (${switchText(done)} in ${totalDuration(done) ?? '?'})\n`);
        else {
          out(`details: portal-failover operation ${done.id}\n`);
          process.stderr.write(`portal-failover: switchover ${done.id} ${done.status}: ${done.error ?? 'no reason given'}\n`);
        }
        return done.status === 'succeeded' ? 0 : 1;
      }),
    );
}
