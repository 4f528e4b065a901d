import { Command, InvalidArgumentError } from 'commander';
import { ApiClient, ApiError, ConnectionError, type ApiProblem } from '../api-client';

export const DEFAULT_URL = 'http://127.0.0.1:8080';
export const TOKEN_ENV = 'PORTAL_FAILOVER_TOKEN';
export const URL_ENV = 'PORTAL_FAILOVER_URL';

/** Options every API command has. */
export interface ConnectionOptions {
  url: string;
  json?: boolean;
}

/** Wrong invocation (bad flag value, missing token): exit code 2, like commander's own usage errors here. */
export class UsageError extends Error {}

/**
 * Usage errors exit 2 and API/network failures exit 1, so scripts can tell "I called it wrong" from "it did not
 * work". Commander itself would exit 1 on a missing argument; this makes it 2 for the commands registered here.
 */
export function usageExitCodes(cmd: Command): Command {
  return cmd.exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));
}

/** Adds --url and --json; the token deliberately has no flag (see the help text in index.ts). */
export function apiCommand(parent: Command, name: string): Command {
  return usageExitCodes(parent.command(name))
    .option('--url <url>', `API base URL (env ${URL_ENV})`, process.env[URL_ENV] || DEFAULT_URL)
    .option('--json', 'print the API answer as JSON, for scripts')
    .addHelpText('after', `\nThe API token is read from ${TOKEN_ENV}; there is no flag for it, because flags end up in shell history.`);
}

export function client(opts: ConnectionOptions): ApiClient {
  try {
    const u = new URL(opts.url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http(s)');
  } catch {
    throw new UsageError(`--url: "${opts.url}" is not an http:// or https:// URL`);
  }
  const token = process.env[TOKEN_ENV]?.trim();
  if (!token) throw new UsageError(`${TOKEN_ENV} is not set: export the API token in that variable (it is never taken as a flag, which would end up in shell history)`);
  return new ApiClient(opts.url, token);
}

/** Flag names for the API's field names, so "reason: too short" reads as the flag the user typed. */
const FLAG_OF: Record<string, string> = { to: '--to', reason: '--reason', until: '--until/--for', since: '--since', limit: '--limit', portal: '--portal', type: '--type', force: '--force' };

function problemLine(p: ApiProblem): string {
  return `${FLAG_OF[p.path] ?? p.path}: ${p.message}`;
}

/** One line per problem on stderr, prefixed with the program name so it stands out in a scroll of output. */
export function errorLines(err: unknown): string[] {
  if (err instanceof ApiError) {
    const b = err.body;
    const hint: Record<number, string> = { 401: ` (check ${TOKEN_ENV})` };
    // The API speaks in body fields; the CLI user typed --force.
    const error = b.error.replace('(force: true overrides this)', '(--force overrides this)') + (hint[err.status] ?? '');
    const lines = b.problems?.length ? b.problems.map((p) => `${error}: ${problemLine(p)}`) : [error];
    if (b.operationId) lines.push(`see it with: portal-failover operation ${b.operationId}`);
    return lines.map((l) => `portal-failover: ${l}`);
  }
  if (err instanceof ConnectionError || err instanceof UsageError) return [`portal-failover: ${err.message}`];
  return [`portal-failover: ${(err as Error).message ?? String(err)}`];
}

/**
 * Runs a command body and turns its outcome into an exit code. process.exitCode (not process.exit) so stdout
 * drains fully when it is a pipe: `audit export | jq` must not lose its last lines.
 */
export function run<A extends unknown[]>(fn: (...args: A) => Promise<number | void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      process.exitCode = (await fn(...args)) ?? 0;
    } catch (err) {
      for (const line of errorLines(err)) process.stderr.write(`${line}\n`);
      process.exitCode = err instanceof UsageError ? 2 : 1;
    }
  };
}

export function out(text: string): void {
  process.stdout.write(text);
}

/** Commander argument parser for positive whole numbers (--limit). */
export function positiveInt(max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < 1 || n > max) throw new InvalidArgumentError(`must be a whole number from 1 to ${max}`);
    return n;
  };
}

export const enc = encodeURIComponent;
