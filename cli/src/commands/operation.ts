import type { Command } from 'commander';
import type { ApiOperation, ApiStep } from '../api-client';
import { duration, fields, table, timestamp, type Cell } from '../format';
import { apiCommand, client, dump, enc, machine, out, run, type ConnectionOptions } from './common';

export const TERMINAL = new Set(['succeeded', 'failed', 'rejected']);

export function stepDuration(s: ApiStep): string | undefined {
  return s.startedAt !== undefined && s.finishedAt !== undefined ? duration(s.finishedAt - s.startedAt) : undefined;
}

/**
 * What a step did or is doing, in one phrase: the verification when verified, the error when failed, the planned
 * change while applying. Empty when there is nothing beyond the status (the plan is only saved once made).
 */
export function stepDetail(s: ApiStep): string {
  if (s.status === 'verified') return s.verified ?? s.plan?.description ?? '';
  if (s.status === 'failed') return s.error ?? '';
  const parts = [s.plan?.description, s.attempts > 1 ? `attempt ${s.attempts}` : undefined, s.error ? `last error: ${s.error}` : undefined];
  return parts.filter((x) => x !== undefined).join('; ');
}

export function switchText(op: ApiOperation): string {
  return `${op.from || '?'} -> ${op.to || '(chosen by the controller)'}`;
}

/** Total time from the request (or the decision, for automatic ones) to the end. */
export function totalDuration(op: ApiOperation): string | undefined {
  if (op.finishedAt === undefined) return undefined;
  return duration(op.finishedAt - (op.requestedAt ?? op.decidedAt));
}

interface EvidenceSite {
  status?: string;
  vantages?: { vantage: string; verdict: string; detail?: string }[];
}

/** The decision's evidence in a few lines: per site, the status and each vantage's verdict. */
function evidenceText(op: ApiOperation): string {
  const ev = op.evidence;
  if (!ev) return '';
  const sites = (ev.sites ?? {}) as Record<string, EvidenceSite>;
  const lines = Object.entries(sites).map(
    ([name, s]) => `  ${name}: ${s.status ?? '?'}${s.vantages?.length ? ` (${s.vantages.map((v) => `${v.vantage} ${v.verdict}${v.detail ? `: ${v.detail}` : ''}`).join('; ')})` : ''}`,
  );
  return `\nEvidence at decision${typeof ev.analysis === 'string' ? ` (${ev.analysis})` : ''}:\n${lines.join('\n')}\n`;
}

/**
 * Per DNS step with a propagation check: each server's time to the new answer (or that it did not serve it within
 * the timeout), and until when resolvers may still hold the old answer.
 */
export function propagationText(op: ApiOperation): string {
  const parts = op.steps.flatMap((s) => {
    const p = s.propagation;
    if (!p) return [];
    const lines = p.servers.map(
      (x) => `  ${x.role} ${x.server}: ${x.propagated ? `new answer after ${duration(x.afterMs ?? 0)}` : `NOT propagated (${x.detail ?? 'no detail'})`}`,
    );
    if (p.error) lines.push(`  error: ${p.error}`);
    lines.push(
      p.oldAnswerUntil !== undefined
        ? `  resolvers may hold the old answer until ${timestamp(p.oldAnswerUntil)} (apply time + old TTL ${p.oldTtl}s)`
        : '  old TTL unknown: resolvers may hold the old answer for as long as it was',
    );
    return [`\nPropagation of step ${s.index + 1} (${p.record} ${p.type} ${p.value}):\n${lines.join('\n')}\n`];
  });
  return parts.join('');
}

export function operationDetail(op: ApiOperation): string {
  const queued = op.requestedAt !== undefined && op.status !== 'pending' ? ` (queued ${duration(op.decidedAt - op.requestedAt)})` : '';
  const steps = op.steps.length
    ? '\n' +
      table(
        ['STEP', 'PROVIDER', 'STATUS', 'ATTEMPTS', 'DURATION', 'DETAIL'],
        op.steps.map((s) => [s.index + 1, s.label, s.status, s.attempts, stepDuration(s), stepDetail(s)]),
      )
    : '\n(no steps yet: the controller has not taken it)\n';
  const pairs: [string, Cell][] = [
    ['portal', op.portal],
    ['switch', `${switchText(op)} (${op.trigger}${op.force ? ', forced' : ''})`],
    ['reason', op.reason],
    ['actor', `${op.actor}${op.client ? ` from ${op.client}` : ''}`],
  ];
  if (op.detectedAt !== undefined) pairs.push(['detected', `${timestamp(op.detectedAt)} (to decision ${duration(op.decidedAt - op.detectedAt)})`]);
  if (op.requestedAt !== undefined) pairs.push(['requested', timestamp(op.requestedAt)]);
  pairs.push(['decided', `${timestamp(op.decidedAt)}${queued}`]);
  pairs.push(['finished', op.finishedAt !== undefined ? `${timestamp(op.finishedAt)} (switch ${duration(op.finishedAt - op.decidedAt)}, total ${totalDuration(op)})` : 'not yet']);
  if (op.resumedCount) pairs.push(['resumed', `${op.resumedCount} time(s) after a controller change`]);
  if (op.error) pairs.push(['error', op.error]);
  return `Operation ${op.id}: ${op.status}\n${fields(pairs)}${steps}${propagationText(op)}${evidenceText(op)}`;
}

export function registerOperation(program: Command): void {
  apiCommand(program, 'operation')
    .description('one operation: steps, evidence, timings')
    .argument('<id>', 'operation id (from switchover, operations or status)')
    .action(
      run(async (id: string, opts: ConnectionOptions) => {
        const op = await client(opts).get<ApiOperation>(`/api/v1/operations/${enc(id)}`);
        out(machine(opts) ? dump(opts, op) : operationDetail(op));
      }),
    );
}
