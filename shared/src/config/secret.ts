import { readFileSync } from 'node:fs';

/**
 * A value that must never reach a log line, an error message or an audit entry.
 * Every way a value gets stringified yields the placeholder; only reveal() gives the text.
 */
export class Secret {
  readonly #value: string;
  constructor(value: string, readonly source: string) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return '[redacted]';
  }
  toJSON(): string {
    return `[redacted:${this.source}]`;
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `Secret(${this.source})`;
  }
}

/**
 * A secret this process was not given, because its role does not need it (a checker holds no provider key). The
 * config still validates; using it is a programming error that names the reference, never a value.
 */
export class WithheldSecret extends Secret {
  constructor(source: string, private readonly why: string) {
    super('', source);
  }
  override reveal(): string {
    throw new Error(`secret ${this.source} is not available in this process: ${this.why}`);
  }
}

const ENV_REF = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/;
const ENV_ANYWHERE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

export type Resolved<T> = { ok: true; value: T } | { ok: false; error: string };

/** Secrets may only be written as `${ENV}` or `file:/path`, so a config file can be shared without leaking them. */
export function resolveSecretRef(ref: string, env: NodeJS.ProcessEnv): Resolved<Secret> {
  const envMatch = ENV_REF.exec(ref);
  if (envMatch) {
    const value = env[envMatch[1]];
    if (value === undefined || value === '') {
      return { ok: false, error: `environment variable ${envMatch[1]} is not set` };
    }
    return { ok: true, value: new Secret(value, `env:${envMatch[1]}`) };
  }
  if (ref.startsWith('file:')) {
    const path = ref.slice('file:'.length);
    try {
      return { ok: true, value: new Secret(readFileSync(path, 'utf8').trim(), `file:${path}`) };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
      return { ok: false, error: `cannot read secret file ${path} (${code})` };
    }
  }
  return {
    ok: false,
    error: 'secrets must be a ${ENV_VAR} reference or a file:/path, never the literal value',
  };
}

/** Expands every `${ENV}` inside an ordinary (non-secret) string. */
export function expandEnv(text: string, env: NodeJS.ProcessEnv): Resolved<string> {
  let missing: string | undefined;
  const value = text.replace(ENV_ANYWHERE, (_all, name: string) => {
    const v = env[name];
    if (v === undefined) missing ??= name;
    return v ?? '';
  });
  return missing ? { ok: false, error: `environment variable ${missing} is not set` } : { ok: true, value };
}
