import type { Command } from 'commander';
import type { ApiClient, ApiFreeze, ApiPortal, ApiVantage } from '../api-client';
import { duration, fields, parseUserDuration, table, timestamp, when } from '../format';
import { UsageError, apiCommand, client, dump, enc, errorLines, machine, out, run, type ConnectionOptions } from './common';

export function frozenText(f: ApiFreeze | null, now = Date.now()): string {
  if (!f) return 'no';
  return `yes, by ${f.actor} ${duration(now - f.at)} ago${f.until !== undefined ? `, until ${timestamp(f.until)}` : ', until unfrozen'}: ${f.reason}`;
}

function cooldownText(c: ApiPortal['cooldown']): string {
  if (!c) return 'none';
  if (!c.active) return `over (last automatic switch ${timestamp(c.lastAutoSwitchAt)})`;
  return `until ${timestamp(c.until)}${c.acknowledged ? ' (acknowledged: automation may switch again)' : ' (not acknowledged: `portal-failover ack` lifts it)'}`;
}

function inFlightText(p: ApiPortal): string {
  const f = p.operationInFlight;
  if (f) return `${f.operationId} (${f.from} -> ${f.to}, ${f.trigger}, ${duration(Date.now() - f.since)})`;
  if (p.pendingRequest) return `${p.pendingRequest} (requested, waiting for the controller)`;
  return 'none';
}

function vantagesText(vs: ApiVantage[]): string {
  if (!vs.length) return 'no vantage reported';
  return vs
    .map((v) => `${v.vantage} ${v.verdict}${v.failingSince !== undefined ? ` since ${timestamp(v.failingSince)}` : ''}${v.detail ? ` (${v.detail})` : ''}`)
    .join('; ');
}

function sitesTable(portals: ApiPortal[], withPortal: boolean): string {
  const rows = portals.flatMap((p) =>
    p.sites.map((s) => [...(withPortal ? [p.id] : []), `${s.name}${s.name === p.activeSite ? ' *' : ''}`, s.provider, s.status, readyText(s.readiness), vantagesText(s.vantages)]),
  );
  return table([...(withPortal ? ['PORTAL'] : []), 'SITE', 'PROVIDER', 'STATUS', 'READY', 'VANTAGES'], rows);
}

/** "not ready" carries its reason: it is what blocks a switch to that site. */
function readyText(r: ApiPortal['sites'][number]['readiness']): string {
  if (!r) return '-';
  return r.ready ? 'ready' : `not ready (${r.reason})`;
}

function detail(p: ApiPortal): string {
  const last = p.lastOperation;
  return (
    `Portal ${p.id} (${p.name})\n` +
    fields([
      ['active site', p.activeSite],
      ['phase', p.phase],
      ['reason', p.reason],
      ['frozen', frozenText(p.frozen)],
      ['cooldown', cooldownText(p.cooldown)],
      ['in flight', inFlightText(p)],
      ['last operation', last ? `${last.id} ${last.status}, ${last.from} -> ${last.to} (${last.trigger}), ${when(last.finishedAt ?? last.decidedAt)}` : 'none'],
    ]) +
    '\n' +
    sitesTable([p], false) +
    '(* = active site)\n'
  );
}

interface StatusOptions extends ConnectionOptions {
  watch?: string | true;
}

/** What `status` shows: one portal, or all of them. */
async function readPortals(api: ApiClient, portal: string | undefined): Promise<ApiPortal[]> {
  return portal ? [await api.get<ApiPortal>(`/api/v1/portals/${enc(portal)}`)] : (await api.get<{ portals: ApiPortal[] }>('/api/v1/portals')).portals;
}

/** The API's answer as it came: one portal's object, or `{portals}`. */
const answerOf = (portal: string | undefined, portals: ApiPortal[]): unknown => (portal ? portals[0] : { portals });

/** One screen for people: the overview of all portals, or one portal's details. */
function screenOf(portal: string | undefined, portals: ApiPortal[]): string {
  if (portal) return detail(portals[0]);
  return (
    table(
      ['PORTAL', 'ACTIVE', 'PHASE', 'FROZEN', 'COOLDOWN', 'IN FLIGHT', 'REASON'],
      portals.map((p) => [
        p.id,
        p.activeSite,
        p.phase,
        p.frozen ? `yes (${p.frozen.actor})` : 'no',
        p.cooldown?.active ? `until ${timestamp(p.cooldown.until)}${p.cooldown.acknowledged ? ' (acked)' : ''}` : 'no',
        p.operationInFlight?.operationId ?? p.pendingRequest ?? 'none',
        p.reason,
      ]),
    ) +
    '\n' +
    sitesTable(portals, true) +
    '(* = active site; `portal-failover status <portal>` for details)\n'
  );
}

/** Parses --watch's optional interval: whole seconds from 1 to 3600, default 2. */
export function watchInterval(value: string | true | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (value === true) return 2_000;
  const ms = /^\d+$/.test(value) ? Number(value) * 1000 : parseUserDuration(value);
  if (ms === undefined || ms < 1_000 || ms > 3_600_000) throw new UsageError(`--watch: "${value}" must be an interval from 1s to 1h, e.g. 2 or 5s`);
  return ms;
}

/**
 * Redraws until Ctrl-C. On a terminal each screen replaces the last; into a pipe or a file every screen is kept,
 * headed by its time, so `status --watch > incident.log` is a record of the incident as it was seen.
 * An API that does not answer is one line on that screen, not the end of the watch: that is when it is watched.
 */
async function watch(api: ApiClient, portal: string | undefined, opts: StatusOptions, everyMs: number): Promise<never> {
  const tty = process.stdout.isTTY === true;
  for (;;) {
    let portals: ApiPortal[] | undefined;
    let failure = '';
    try {
      portals = await readPortals(api, portal);
    } catch (err) {
      if (err instanceof UsageError) throw err;
      failure = `${errorLines(err).join('\n')}\n`;
    }
    if (machine(opts)) {
      // Scripts get one document per screen (a JSON line, or a YAML document); a failed read goes to stderr so
      // the stream stays parseable.
      if (!portals) process.stderr.write(failure);
      else out(opts.output === 'yaml' ? `---\n${dump(opts, answerOf(portal, portals))}` : `${JSON.stringify(answerOf(portal, portals))}\n`);
    } else {
      const head = `Every ${everyMs / 1000}s: portal-failover status${portal ? ` ${portal}` : ''}  ${new Date().toISOString()}`;
      const screen = portals ? screenOf(portal, portals) : failure;
      out(`${tty ? '\x1b[H\x1b[2J' : ''}${head}\n\n${screen}${tty ? '' : '\n'}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export function registerStatus(program: Command): void {
  apiCommand(program, 'status')
    .description('portals: active site, phase and why, health per site and vantage, freeze, cooldown, operation in flight')
    .argument('[portal]', 'one portal id (default: all)')
    .option('-w, --watch [interval]', 'redraw every interval (default 2s) until Ctrl-C')
    .action(
      run(async (portal: string | undefined, opts: StatusOptions) => {
        const everyMs = watchInterval(opts.watch);
        const api = client(opts);
        if (everyMs !== undefined) await watch(api, portal, opts, everyMs);
        const portals = await readPortals(api, portal);
        out(machine(opts) ? dump(opts, answerOf(portal, portals)) : screenOf(portal, portals));
      }),
    );
}
