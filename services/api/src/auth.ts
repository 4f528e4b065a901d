import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { NextFunction, Request, Response } from 'express';
import { sendProblem } from './problem';

export type Role = 'viewer' | 'operator' | 'admin';
export const ROLES: readonly Role[] = ['viewer', 'operator', 'admin'];
const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

export interface TokenRecord {
  name: string;
  role: Role;
  sha256: string;
}

export interface Caller {
  name: string;
  role: Role;
  client: string;
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** A new random token and the record to store; the token itself is shown once and never kept. */
export function createToken(name: string, role: Role): { token: string; record: TokenRecord } {
  const token = `pf_${randomBytes(24).toString('base64url')}`;
  return { token, record: { name, role, sha256: hashToken(token) } };
}

/**
 * Token file: one token per line, `name role sha256hex`; blank lines and # comments are ignored. Kept apart from
 * the config so tokens can be rotated without touching it (and mounted from a Secret).
 */
export function readTokenFile(path: string): TokenRecord[] {
  const out: TokenRecord[] = [];
  readFileSync(path, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      const t = line.trim();
      if (!t || t.startsWith('#')) return;
      const [name, role, sha256, extra] = t.split(/\s+/);
      if (extra !== undefined || !name || !ROLES.includes(role as Role) || !/^[0-9a-f]{64}$/.test(sha256 ?? '')) {
        throw new Error(`${path}:${i + 1}: expected "name role sha256hex" with role viewer, operator or admin`);
      }
      out.push({ name, role: role as Role, sha256 });
    });
  return out;
}

export class TokenRegistry {
  private readonly digests: { record: TokenRecord; digest: Buffer }[];
  constructor(records: TokenRecord[]) {
    this.digests = records.map((record) => ({ record, digest: Buffer.from(record.sha256, 'hex') }));
  }

  /** Compares against every stored hash in constant time, so timing says nothing about which token was close. */
  authenticate(header: string | undefined): TokenRecord | undefined {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
    if (!m) return undefined;
    const digest = createHash('sha256').update(m[1]).digest();
    let found: TokenRecord | undefined;
    for (const d of this.digests) if (timingSafeEqual(d.digest, digest) && !found) found = d.record;
    return found;
  }
}

export function clientOf(req: Request): string {
  return req.ip ?? req.socket.remoteAddress ?? 'unknown';
}

export function requireRole(tokens: TokenRegistry, role: Role) {
  return (req: Request, res: Response, next: NextFunction) => {
    const rec = tokens.authenticate(req.header('authorization'));
    if (!rec) {
      res.setHeader('WWW-Authenticate', 'Bearer');
      return sendProblem(res, 401, 'missing or unknown bearer token');
    }
    if (RANK[rec.role] < RANK[role]) return sendProblem(res, 403, `this needs the ${role} role; token "${rec.name}" is ${rec.role}`);
    res.locals.caller = { name: rec.name, role: rec.role, client: clientOf(req) } satisfies Caller;
    next();
  };
}

export function callerOf(res: Response): Caller {
  return res.locals.caller as Caller;
}
