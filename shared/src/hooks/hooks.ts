import { createHmac } from 'node:crypto';
import { z } from 'zod';
import type { Fields } from '../config/fields';
import type { Secret } from '../config/secret';
import { runCommand, type CommandEnd } from '../runtime/command-runner';

export interface CommandHook {
  name: string;
  command: string[];
  /** Names of environment variables the hook may see (besides PATH and PF_*); nothing else is passed. */
  env?: string[];
  timeoutMs: number;
}

export interface WebhookHook {
  name: string;
  url: string;
  secret?: Secret;
  timeoutMs: number;
}

export type SwitchHook = CommandHook | WebhookHook;

export interface HookContext {
  portal: string;
  operationId: string;
  from: string;
  to: string;
  trigger: string;
  reason: string;
  phase: 'pre' | 'post';
}

export interface HookResult {
  hook: string;
  ok: boolean;
  detail: string;
  ms: number;
}

/** Hooks of a portal: `preSwitch` may veto a switch (non-zero exit, non-2xx answer); `postSwitch` only reports. */
export function hooksSchema(f: Fields) {
  const command = z
    .strictObject({
      name: z.string().min(1).max(64),
      command: z.array(f.nonEmpty()).min(1, 'needs at least the program to run'),
      env: z.array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name')).max(64).optional(),
      timeout: f.duration(100).prefault('10s'),
    })
    .transform(({ timeout, ...h }) => ({ ...h, timeoutMs: timeout }));
  const webhook = z
    .strictObject({ name: z.string().min(1).max(64), url: f.url(), secret: f.secret().optional(), timeout: f.duration(100).prefault('5s') })
    .transform(({ timeout, ...h }) => ({ ...h, timeoutMs: timeout }));
  const hook = z.union([command, webhook], { error: 'a hook is { name, command: [argv...] } or { name, url, secret? }' });
  return z.strictObject({ preSwitch: z.array(hook).default([]), postSwitch: z.array(hook).default([]) }).prefault({});
}

const clip = (text: string) => (text.length > 300 ? `${text.slice(0, 300)}…` : text).trim();

const HOOK_OUTPUT_LIMIT = 64 * 1024;

/** What a hook's end looks like in the audit log and the veto message. */
function describeEnd(end: CommandEnd, timeoutMs: number): string {
  switch (end.kind) {
    case 'exited':
      return `exit ${end.code}`;
    case 'timeout':
      return `timed out after ${timeoutMs}ms`;
    case 'signal':
      return `killed by ${end.signal}`;
    case 'output-limit':
      return `printed more than ${HOOK_OUTPUT_LIMIT / 1024} KiB`;
    case 'not-started':
      return end.code;
  }
}

/**
 * Runs a command hook without a shell; the switch facts arrive as PF_* environment variables. The hook gets no
 * other variable than PATH and the ones its config names (`env`): the controller's own environment holds Redis
 * credentials and provider keys. At the time limit its whole process group is killed.
 */
async function runCommandHook(h: CommandHook, ctx: HookContext): Promise<Omit<HookResult, 'ms'>> {
  const env: NodeJS.ProcessEnv = {
    ...(process.env.PATH !== undefined ? { PATH: process.env.PATH } : {}),
    ...Object.fromEntries((h.env ?? []).filter((k) => process.env[k] !== undefined).map((k) => [k, process.env[k]])),
    PF_PHASE: ctx.phase,
    PF_PORTAL: ctx.portal,
    PF_OPERATION: ctx.operationId,
    PF_FROM: ctx.from,
    PF_TO: ctx.to,
    PF_TRIGGER: ctx.trigger,
    PF_REASON: ctx.reason,
  };
  const { end, stdout, stderr } = await runCommand({ argv: h.command, env, timeoutMs: h.timeoutMs, maxOutputBytes: HOOK_OUTPUT_LIMIT });
  if (end.kind === 'exited' && end.code === 0) return { hook: h.name, ok: true, detail: clip(stdout) || 'exit 0' };
  return { hook: h.name, ok: false, detail: `${describeEnd(end, h.timeoutMs)}${stderr ? `: ${clip(stderr)}` : ''}` };
}

async function runWebhook(h: WebhookHook, ctx: HookContext): Promise<Omit<HookResult, 'ms'>> {
  const body = JSON.stringify({ ...ctx, at: new Date().toISOString() });
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (h.secret) headers['x-portal-failover-signature'] = `sha256=${createHmac('sha256', h.secret.reveal()).update(body).digest('hex')}`;
  try {
    const res = await fetch(h.url, { method: 'POST', headers, body, redirect: 'manual', signal: AbortSignal.timeout(h.timeoutMs) });
    const text = clip(await res.text().catch(() => ''));
    return { hook: h.name, ok: res.status >= 200 && res.status < 300, detail: `HTTP ${res.status}${text ? `: ${text}` : ''}` };
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    return { hook: h.name, ok: false, detail: e.name === 'TimeoutError' ? `no answer within ${h.timeoutMs}ms` : (e.cause?.code ?? e.message) };
  }
}

/** Runs hooks in order and stops at the first failure (for pre hooks that failure is the veto). */
export async function runHooks(hooks: SwitchHook[], ctx: HookContext, stopOnFailure: boolean): Promise<HookResult[]> {
  const out: HookResult[] = [];
  for (const h of hooks) {
    const started = Date.now();
    const r = 'command' in h ? await runCommandHook(h, ctx) : await runWebhook(h, ctx);
    out.push({ ...r, ms: Date.now() - started });
    if (!r.ok && stopOnFailure) break;
  }
  return out;
}
