import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import * as path from 'node:path';

/**
 * Named contexts, as kubectl has them: an on-call person who looks after the staging and the production API keeps
 * both in `~/.config/portal-failover/contexts.yaml` and says `--context prod` instead of exporting two variables.
 * A context holds a URL and the path of a token file, never a token: the file stays the one place the secret lives.
 *
 *   current: prod
 *   contexts:
 *     prod:    { url: https://failover.example.gov.vn, tokenFile: ~/.config/portal-failover/prod.token }
 *     staging: { url: http://127.0.0.1:8080, tokenFile: ~/.config/portal-failover/staging.token }
 */
export interface CliContext {
  url?: string;
  tokenFile?: string;
}

export interface ContextsFile {
  current?: string;
  contexts: Record<string, CliContext>;
}

/** Thrown for a contexts file that cannot be used; the message names the file and the field. */
export class ContextsError extends Error {}

export const CONTEXTS_ENV = 'PORTAL_FAILOVER_CONTEXTS';
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

/** `$PORTAL_FAILOVER_CONTEXTS`, else `$XDG_CONFIG_HOME/portal-failover/contexts.yaml`, else under `~/.config`. */
export function contextsPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env[CONTEXTS_ENV]) return env[CONTEXTS_ENV];
  const base = env.XDG_CONFIG_HOME || path.join(env.HOME || homedir(), '.config');
  return path.join(base, 'portal-failover', 'contexts.yaml');
}

/** `~/x` in a token file path means the user's home, as it would in a shell. */
export function expandHome(p: string, env: NodeJS.ProcessEnv = process.env): string {
  return p === '~' || p.startsWith('~/') ? path.join(env.HOME || homedir(), p.slice(1)) : p;
}

/** An absolute http:// or https:// URL: what --url and a context's url must be. */
export function isHttpUrl(text: string): boolean {
  try {
    return ['http:', 'https:'].includes(new URL(text).protocol);
  } catch {
    return false;
  }
}

export function validContextName(name: string): boolean {
  return NAME.test(name);
}

function parseContexts(text: string, file: string): ContextsFile {
  // Loaded here, not at start-up: `--help` must not pay for the YAML parser.
  const YAML = require('yaml') as typeof import('yaml');
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (err) {
    throw new ContextsError(`${file}: not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (doc === null || doc === undefined) return { contexts: {} };
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new ContextsError(`${file}: must be a mapping with "current" and "contexts"`);
  const d = doc as Record<string, unknown>;
  for (const k of Object.keys(d)) if (k !== 'current' && k !== 'contexts') throw new ContextsError(`${file}: ${k}: unknown field (expected current, contexts)`);
  if (d.current !== undefined && typeof d.current !== 'string') throw new ContextsError(`${file}: current: must be a context name`);
  const contexts: Record<string, CliContext> = {};
  if (d.contexts !== undefined && d.contexts !== null) {
    if (typeof d.contexts !== 'object' || Array.isArray(d.contexts)) throw new ContextsError(`${file}: contexts: must be a mapping of name to {url, tokenFile}`);
    for (const [name, v] of Object.entries(d.contexts as Record<string, unknown>)) {
      const at = `${file}: contexts.${name}`;
      if (!validContextName(name)) throw new ContextsError(`${at}: the name must be letters, digits, ., - or _`);
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ContextsError(`${at}: must be a mapping with url and tokenFile`);
      const c = v as Record<string, unknown>;
      for (const k of Object.keys(c)) {
        if (k === 'token') throw new ContextsError(`${at}.token: a context holds the path of a token file (tokenFile), never the token itself`);
        if (k !== 'url' && k !== 'tokenFile') throw new ContextsError(`${at}.${k}: unknown field (expected url, tokenFile)`);
      }
      if (c.url !== undefined && typeof c.url !== 'string') throw new ContextsError(`${at}.url: must be an http(s) URL`);
      if (c.tokenFile !== undefined && typeof c.tokenFile !== 'string') throw new ContextsError(`${at}.tokenFile: must be a file path`);
      contexts[name] = { url: c.url as string | undefined, tokenFile: c.tokenFile as string | undefined };
    }
  }
  const current = d.current as string | undefined;
  if (current !== undefined && !contexts[current]) throw new ContextsError(`${file}: current: "${current}" is not one of the contexts (${Object.keys(contexts).join(', ') || 'none'})`);
  return { current, contexts };
}

/** The file's contexts; no file means no contexts (the CLI then works from flags and environment alone). */
export function readContexts(file = contextsPath()): ContextsFile {
  if (!existsSync(file)) return { contexts: {} };
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ContextsError(`${file}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parseContexts(text, file);
}

export function writeContexts(data: ContextsFile, file = contextsPath()): void {
  const YAML = require('yaml') as typeof import('yaml');
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const body = `# portal-failover CLI contexts: url + tokenFile per API (\`portal-failover context --help\`)\n${YAML.stringify(data)}`;
  writeFileSync(file, body, { mode: 0o600 });
  chmodSync(file, 0o600);
}

/** The context a command uses: `--context`, else the file's `current`; undefined when neither names one. */
export function selectContext(name: string | undefined, file = contextsPath()): { name: string; context: CliContext } | undefined {
  const all = readContexts(file);
  const chosen = name ?? all.current;
  if (chosen === undefined) return undefined;
  const context = all.contexts[chosen];
  if (!context) throw new ContextsError(`--context: "${chosen}" is not in ${file} (known: ${Object.keys(all.contexts).join(', ') || 'none'})`);
  return { name: chosen, context };
}
