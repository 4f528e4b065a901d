import type { Command } from 'commander';
import type { ApiFreeze, ApiPortal, ApiVantage } from '../api-client';
import { duration, fields, json, table, timestamp, when } from '../format';
import { apiCommand, client, enc, out, run, type ConnectionOptions } from './common';

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

export function registerStatus(program: Command): void {
  apiCommand(program, 'status')
    .description('portals: active site, phase and why, health per site and vantage, freeze, cooldown, operation in flight')
    .argument('[portal]', 'one portal id (default: all)')
    .action(
      run(async (portal: string | undefined, opts: ConnectionOptions) => {
        const api = client(opts);
        const portals = portal ? [await api.get<ApiPortal>(`/api/v1/portals/${enc(portal)}`)] : (await api.get<{ portals: ApiPortal[] }>('/api/v1/portals')).portals;
        if (opts.json) return out(json(portal ? portals[0] : { portals }));
        if (portal) return out(detail(portals[0]));
        out(
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
            '(* = active site; `portal-failover status <portal>` for details)\n',
        );
      }),
    );
}
