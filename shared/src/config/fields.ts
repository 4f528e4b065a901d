import { isIP } from 'node:net';
import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { parseDuration } from './duration';
import { expandEnv, resolveSecretRef, Secret, WithheldSecret } from './secret';

/** How a process loads its config: a checker validates every field but resolves no secret it will not use. */
export interface ConfigLoadOptions {
  /** Leave secrets that cannot be resolved here withheld instead of failing (for least-privilege roles). */
  withholdSecrets?: string;
}

/**
 * Field types shared by the core schema and every provider's schema piece. They are built per load so that
 * `${ENV}` references resolve against the environment the loader was given (tests pass their own).
 */
export function makeFields(env: NodeJS.ProcessEnv, baseDir: string = process.cwd(), opts: ConfigLoadOptions = {}) {
  const str = () =>
    z.string().transform((text, ctx) => {
      const r = expandEnv(text, env);
      if (!r.ok) {
        ctx.addIssue({ code: 'custom', message: r.error });
        return z.NEVER;
      }
      return r.value;
    });
  const nonEmpty = () => str().pipe(z.string().min(1, 'must not be empty'));
  const secret = () =>
    z.string().transform((ref, ctx): Secret => {
      const r = resolveSecretRef(ref, env);
      if (!r.ok && opts.withholdSecrets && /^(\$\{|file:)/.test(ref)) return new WithheldSecret(ref.startsWith('file:') ? ref : `env:${ref.slice(2, -1)}`, opts.withholdSecrets);
      if (!r.ok) {
        ctx.addIssue({ code: 'custom', message: r.error });
        return z.NEVER;
      }
      return r.value;
    });
  /** A duration string; `minMs` rejects values too small to be meaningful (a 0s interval would spin). */
  const duration = (minMs = 0) =>
    z.string({ error: 'must be a duration such as 500ms, 10s or 5m' }).transform((text, ctx) => {
      const ms = parseDuration(text);
      if (ms === undefined) {
        ctx.addIssue({ code: 'custom', message: `"${text}" is not a duration; write it like 500ms, 10s or 5m` });
        return z.NEVER;
      }
      if (ms < minMs) {
        ctx.addIssue({ code: 'custom', message: `must be at least ${minMs}ms, got ${text}` });
        return z.NEVER;
      }
      return ms;
    });
  const hostPort = () =>
    str().pipe(
      z.string().refine((v) => parseHostPort(v) !== undefined, 'must be host:port, e.g. 127.0.0.1:8080'),
    );
  const url = (protocols: string[] = ['http:', 'https:']) =>
    str().pipe(
      z.string().refine((v) => {
        try {
          return protocols.includes(new URL(v).protocol);
        } catch {
          return false;
        }
      }, `must be an absolute ${protocols.map((p) => p.replace(':', '')).join(' or ')} URL`),
    );
  const dnsName = () =>
    str().pipe(
      z
        .string()
        .regex(/^([a-zA-Z0-9_*]([a-zA-Z0-9_-]{0,62})?\.)*[a-zA-Z0-9_-]{1,63}\.?$|^\.$/, 'must be a DNS name'),
    );
  const ipAddress = () => str().pipe(z.string().refine((v) => isIP(v) !== 0, 'must be an IPv4 or IPv6 address'));
  /** Relative paths are taken from the config file's folder, so they mean the same from every working directory. */
  const path = () => nonEmpty().transform((p) => (isAbsolute(p) ? p : resolve(baseDir, p)));
  return { str, nonEmpty, secret, duration, hostPort, url, dnsName, ipAddress, path };
}

export type Fields = ReturnType<typeof makeFields>;

export function parseHostPort(text: string): { host: string; port: number } | undefined {
  const m = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(text);
  if (!m) return undefined;
  const port = Number(m[2]);
  if (port > 65535) return undefined; // 0 asks the OS for a free port (tests, sidecars)
  return { host: m[1], port };
}

/** DNS names in provider APIs are canonical: lower case with the trailing dot. */
export function canonicalName(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith('.') ? lower : `${lower}.`;
}
