import { Command, InvalidArgumentError } from 'commander';
import { readFileSync } from 'node:fs';
import { ApiClient, ApiError, ConnectionError, displayUrl, type ApiProblem } from '../api-client';
import { contextsPath, expandHome, isHttpUrl, selectContext } from '../contexts';
import { json } from '../format';

export const DEFAULT_URL = 'http://127.0.0.1:8080';
export const TOKEN_ENV = 'PORTAL_FAILOVER_TOKEN';
export const URL_ENV = 'PORTAL_FAILOVER_URL';

export type OutputFormat = 'table' | 'json' | 'yaml';
const FORMATS: readonly OutputFormat[] = ['table', 'json', 'yaml'];

/** Options every API command has. */
export interface ConnectionOptions {
  url?: string;
  context?: string;
  tokenFile?: string;
  output: OutputFormat;
  /** `--json`, kept from before `-o`: the same as `-o json`. */
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

function outputFormat(value: string): OutputFormat {
  if (!FORMATS.includes(value as OutputFormat)) throw new InvalidArgumentError(`must be one of ${FORMATS.join(', ')}`);
  return value as OutputFormat;
}

/** Adds the connection flags and the output format. The token itself deliberately has no flag (see the help text). */
export function apiCommand(parent: Command, name: string): Command {
  return usageExitCodes(parent.command(name))
    .option('--url <url>', `API base URL (env ${URL_ENV}; else the context's; else ${DEFAULT_URL})`)
    .option('--context <name>', `a named context from the contexts file (url + token file; \`portal-failover context --help\`)`)
    .option('--token-file <file>', `read the API token from this file (else env ${TOKEN_ENV}, else the context's token file)`)
    .option('-o, --output <format>', `output: ${FORMATS.join(' | ')}`, outputFormat, 'table')
    .option('--json', 'the same as -o json, for scripts')
    .hook('preAction', (_self, action) => {
      if (action.opts().json) action.setOptionValue('output', 'json');
    })
    .addHelpText('after', `\nThe API token is read from --token-file, ${TOKEN_ENV} or the context's token file; there is no flag for the token itself, because flags end up in shell history.`);
}

/** json or yaml: the whole answer for a script, instead of the table for a person. */
export function machine(opts: ConnectionOptions): boolean {
  return opts.output !== 'table' || opts.json === true;
}

/** The answer as the chosen machine format. */
export function dump(opts: ConnectionOptions, value: unknown): string {
  if (opts.output === 'yaml') {
    const YAML = require('yaml') as typeof import('yaml');
    return YAML.stringify(value, { lineWidth: 0 });
  }
  return json(value);
}

function readTokenFile(file: string, flag: string): string {
  let text: string;
  try {
    text = readFileSync(expandHome(file), 'utf8');
  } catch (err) {
    throw new UsageError(`${flag}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  // The file holds the token alone; a trailing newline from `echo >` is not part of it.
  const token = text.trim();
  if (!token) throw new UsageError(`${flag}: ${file} is empty`);
  if (/\s/.test(token)) throw new UsageError(`${flag}: ${file} must hold the token alone on one line`);
  return token;
}

/**
 * Where the URL and token come from, first match wins: flags, then the environment, then the context (`--context`
 * or the file's `current`), then the default URL. A flag beats the environment so a one-off `--url` works in a
 * shell that has the variables exported.
 */
export function client(opts: ConnectionOptions, env: NodeJS.ProcessEnv = process.env): ApiClient {
  let ctx: ReturnType<typeof selectContext>;
  try {
    ctx = selectContext(opts.context, contextsPath(env));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const url = opts.url ?? (env[URL_ENV] || undefined) ?? ctx?.context.url ?? DEFAULT_URL;
  if (!isHttpUrl(url)) {
    const from = opts.url !== undefined ? '--url' : env[URL_ENV] ? URL_ENV : `context ${ctx?.name}: url`;
    throw new UsageError(`${from}: "${displayUrl(url)}" is not an http:// or https:// URL`);
  }
  let token: string | undefined;
  if (opts.tokenFile !== undefined) token = readTokenFile(opts.tokenFile, '--token-file');
  else if (env[TOKEN_ENV]?.trim()) token = env[TOKEN_ENV].trim();
  else if (ctx?.context.tokenFile) token = readTokenFile(ctx.context.tokenFile, `context ${ctx.name}: tokenFile`);
  if (!token) {
    throw new UsageError(
      `no API token: use --token-file FILE, export ${TOKEN_ENV}, or a context with a tokenFile (it is never taken as a flag, which would end up in shell history)`,
    );
  }
  return new ApiClient(url, token);
}

/** Flag names for the API's field names, so "reason: too short" reads as the flag the user typed. */
const FLAG_OF: Record<string, string> = { to: '--to', reason: '--reason', until: '--until/--for', since: '--since', limit: '--limit', portal: '--portal', type: '--type', force: '--override-preconditions' };

function problemLine(p: ApiProblem): string {
  return `${FLAG_OF[p.path] ?? p.path}: ${p.message}`;
}

/** One line per problem on stderr, prefixed with the program name so it stands out in a scroll of output. */
export function errorLines(err: unknown): string[] {
  if (err instanceof ApiError) {
    const b = err.body;
    const hint: Record<number, string> = { 401: ` (check the token: --token-file, ${TOKEN_ENV} or the context)` };
    // The API speaks in body fields; the CLI user typed --override-preconditions.
    const error = b.error.replace('(force: true overrides this)', '(--override-preconditions overrides this)') + (hint[err.status] ?? '');
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
