import { parseJsonConfig } from './json-config';
import { DEFAULT_CONFIG_PATH } from './paths';
import type { ConfigLoadOptions } from './fields';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { parseHostPort } from './fields';
import { Secret } from './secret';
import { buildConfigSchema, type Config } from './schema';

export interface ConfigProblem {
  path: string;
  message: string;
}

/** A config that cannot be used; `problems` lists every one of them, each with its path. */
export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly problems: ConfigProblem[],
  ) {
    super(`${source}: ${problems.length} problem(s) in the configuration:\n${problems.map((p) => `  ${p.path}: ${p.message}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export { DEFAULT_CONFIG_PATH };

/** `portals[0].sites[1].checks[0].timeout` */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out ? `.${String(seg)}` : String(seg);
  }
  return out || '(root)';
}

function issueMessage(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_type') {
    // Only the input's type is printed, never its value: it may be a secret.
    const received = (issue as { input?: unknown }).input;
    if (received === undefined) return 'is required';
    const got = received === null ? 'null' : Array.isArray(received) ? 'array' : typeof received;
    return `must be ${issue.expected === 'int' ? 'an integer' : `a ${issue.expected}`}, got ${got}`;
  }
  if (issue.code === 'unrecognized_keys') return `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  if (issue.code === 'invalid_value' && issue.values.length) return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
  return issue.message;
}

/** Validates an already-parsed document (the API and tests use this directly). */
export function parseConfig(raw: unknown, source: string, env: NodeJS.ProcessEnv = process.env, baseDir?: string, opts: ConfigLoadOptions = {}): Config {
  const result = buildConfigSchema(env, baseDir, opts).safeParse(raw, { reportInput: true });
  if (!result.success) {
    const problems = result.error.issues.map((i) => ({ path: formatPath(i.path), message: issueMessage(i) }));
    throw new ConfigError(source, problems);
  }
  const config = result.data;
  if (env.REDIS_URL) {
    if (!/^rediss?:\/\/\S+$/.test(env.REDIS_URL)) throw new ConfigError(source, [{ path: 'REDIS_URL (environment)', message: 'must be a redis:// or rediss:// URL' }]);
    if (config.redis.sentinels) {
      throw new ConfigError(source, [{ path: 'REDIS_URL (environment)', message: 'is not used when redis.sentinels is set; unset it (the master address comes from Sentinel)' }]);
    }
    config.redis.url = env.REDIS_URL;
  }
  // The role's Redis ACL user (npm run redis:acl), so one config file serves checker, controller and API.
  if (env.REDIS_USERNAME) config.redis.username = env.REDIS_USERNAME;
  if (env.REDIS_PASSWORD) config.redis.password = new Secret(env.REDIS_PASSWORD, 'env:REDIS_PASSWORD');
  if (env.API_LISTEN) {
    if (!parseHostPort(env.API_LISTEN)) throw new ConfigError(source, [{ path: 'API_LISTEN (environment)', message: 'must be host:port, e.g. 0.0.0.0:8080' }]);
    config.api.listen = env.API_LISTEN;
  }
  if (env.FAILOVER_VANTAGE) {
    if (!/^[a-z0-9][a-z0-9_-]{0,62}$/.test(env.FAILOVER_VANTAGE)) {
      throw new ConfigError(source, [{ path: 'FAILOVER_VANTAGE (environment)', message: 'must be lower-case letters, digits, - or _' }]);
    }
    config.checker.vantage = env.FAILOVER_VANTAGE;
  }
  return config;
}

/**
 * The document as plain data. Its own function so the YAML syntax tree is garbage before the schema runs: for a
 * config of 25,000 endpoints the tree is hundreds of MB, and held during validation it set V8's heap limits so
 * high that the process kept about a GiB of garbage long after start.
 */
function yamlData(text: string, source: string): unknown {
  const json = parseJsonConfig(text);
  if (json && 'problem' in json) throw new ConfigError(source, [{ path: `line ${json.problem.line}, column ${json.problem.column}`, message: json.problem.message }]);
  if (json) return json.data;
  // merge: YAML 1.1 merge keys (`<<: *defaults`), which compose files and hand-written configs use to share blocks.
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true, merge: true });
  if (doc.errors.length) {
    throw new ConfigError(
      source,
      doc.errors.map((e) => ({ path: e.linePos ? `line ${e.linePos[0].line}, column ${e.linePos[0].col}` : '(yaml)', message: e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '') })),
    );
  }
  return doc.toJS();
}

export function parseConfigText(text: string, source: string, env: NodeJS.ProcessEnv = process.env, baseDir?: string, opts: ConfigLoadOptions = {}): Config {
  return parseConfig(yamlData(text, source), source, env, baseDir, opts);
}

export function loadConfig(path = process.env.FAILOVER_CONFIG ?? DEFAULT_CONFIG_PATH, env: NodeJS.ProcessEnv = process.env, opts: ConfigLoadOptions = {}): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(path, [{ path: '(file)', message: `cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}` }]);
  }
  return parseConfigText(text, path, env, dirname(resolve(path)), opts);
}
