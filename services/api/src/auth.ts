import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { NextFunction, Request, Response } from 'express';
import { sendProblem } from './problem';

/**
 * Roles, each allowed everything the one before it may do:
 * - `viewer` reads;
 * - `automation` (Alertmanager) also sends alerts, and nothing else: it never forces, freezes or switches by hand,
 *   so a leaked Alertmanager token cannot move a portal past the runbook checks;
 * - `operator` also switches, forces, freezes, unfreezes and acknowledges;
 * - `admin` also owns the token and config-level actions (list tokens, reload the token file).
 */
export type Role = 'viewer' | 'automation' | 'operator' | 'admin';
export const ROLES: readonly Role[] = ['viewer', 'automation', 'operator', 'admin'];
const RANK: Record<Role, number> = { viewer: 0, automation: 1, operator: 2, admin: 3 };

export function roleAllows(has: Role, needs: Role): boolean {
  return RANK[has] >= RANK[needs];
}

export interface TokenRecord {
  name: string;
  role: Role;
  sha256: string;
  /** ISO 8601 date-time after which the token is refused (401 naming the expiry). */
  expires?: string;
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
export function createToken(name: string, role: Role, expires?: string): { token: string; record: TokenRecord } {
  const token = `pf_${randomBytes(24).toString('base64url')}`;
  return { token, record: { name, role, sha256: hashToken(token), ...(expires ? { expires } : {}) } };
}

const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

/**
 * Token file: one token per line, `name role sha256hex [expires]` (expires: ISO 8601 date-time with offset);
 * blank lines and # comments are ignored. Kept apart from the config so tokens can be rotated without touching
 * it (and mounted from a Secret); the API re-reads it when it changes and on SIGHUP.
 */
export function parseTokenFile(text: string, path: string): TokenRecord[] {
  const out: TokenRecord[] = [];
  const names = new Set<string>();
  text.split('\n').forEach((line, i) => {
    const t = line.trim();
    if (!t || t.startsWith('#')) return;
    const [name, role, sha256, expires, extra] = t.split(/\s+/);
    const where = `${path}:${i + 1}`;
    if (extra !== undefined || !name || !ROLES.includes(role as Role) || !/^[0-9a-f]{64}$/.test(sha256 ?? '')) {
      throw new Error(`${where}: expected "name role sha256hex [expires]" with role ${ROLES.join(', ')}`);
    }
    if (expires !== undefined && (!ISO_INSTANT.test(expires) || Number.isNaN(Date.parse(expires)))) {
      throw new Error(`${where}: expires must be an ISO 8601 date-time such as 2027-01-31T00:00:00Z`);
    }
    if (names.has(name)) throw new Error(`${where}: duplicate token name "${name}"`);
    names.add(name);
    out.push({ name, role: role as Role, sha256, ...(expires ? { expires } : {}) });
  });
  return out;
}

export function readTokenFile(path: string): TokenRecord[] {
  return parseTokenFile(readFileSync(path, 'utf8'), path);
}

export type Authentication =
  | { ok: true; record: TokenRecord }
  | { ok: false; why: 'missing' | 'unknown' }
  | { ok: false; why: 'expired'; record: TokenRecord };

/** The token file's last load: what the admin token listing shows. */
export interface TokenFileStatus {
  path: string;
  loadedAt?: number;
  tokens: number;
  /** Why the last re-read was refused; the tokens of the load before it stay in force. */
  error?: string;
}

export class TokenRegistry {
  private digests: { record: TokenRecord; digest: Buffer; source: 'config' | 'file' }[] = [];
  private fileRecords: TokenRecord[] = [];
  private lastFile?: TokenFileStatus;

  /** `file` is read now (a bad file fails start-up) and again on every reload(). */
  constructor(
    private readonly configRecords: TokenRecord[],
    private readonly file?: string,
    private readonly now: () => number = Date.now,
  ) {
    if (file) this.fileRecords = readTokenFile(file);
    if (file) this.lastFile = { path: file, loadedAt: now(), tokens: this.fileRecords.length };
    this.rebuild();
  }

  private rebuild(): void {
    this.digests = [
      ...this.configRecords.map((record) => ({ record, source: 'config' as const })),
      ...this.fileRecords.map((record) => ({ record, source: 'file' as const })),
    ].map((r) => ({ ...r, digest: Buffer.from(r.record.sha256, 'hex') }));
  }

  /**
   * Re-reads the token file. A file that does not parse is refused and the previous tokens stay in force (an
   * edit in progress must not lock every operator out); the error is kept for the token listing and returned.
   */
  reload(): { ok: true; added: string[]; removed: string[]; changed: string[] } | { ok: false; error: string } {
    if (!this.file) return { ok: true, added: [], removed: [], changed: [] };
    let next: TokenRecord[];
    try {
      next = readTokenFile(this.file);
    } catch (e) {
      const error = (e as Error).message;
      this.lastFile = { ...(this.lastFile ?? { path: this.file, tokens: 0 }), error };
      return { ok: false, error };
    }
    const before = new Map(this.fileRecords.map((r) => [r.name, r]));
    const after = new Map(next.map((r) => [r.name, r]));
    const added = [...after.keys()].filter((n) => !before.has(n));
    const removed = [...before.keys()].filter((n) => !after.has(n));
    const changed = [...after.entries()]
      .filter(([n, r]) => {
        const b = before.get(n);
        return b !== undefined && (b.sha256 !== r.sha256 || b.role !== r.role || b.expires !== r.expires);
      })
      .map(([n]) => n);
    this.fileRecords = next;
    this.lastFile = { path: this.file, loadedAt: this.now(), tokens: next.length };
    this.rebuild();
    return { ok: true, added, removed, changed };
  }

  /** Every token without its hash, for admins. */
  list(): { name: string; role: Role; source: 'config' | 'file'; expires?: string; expired: boolean }[] {
    const now = this.now();
    return this.digests.map(({ record, source }) => ({
      name: record.name,
      role: record.role,
      source,
      ...(record.expires ? { expires: record.expires } : {}),
      expired: record.expires !== undefined && Date.parse(record.expires) <= now,
    }));
  }

  fileStatus(): TokenFileStatus | undefined {
    return this.lastFile;
  }

  /** Compares against every stored hash in constant time, so timing says nothing about which token was close. */
  check(header: string | undefined): Authentication {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
    if (!m) return { ok: false, why: header === undefined || /^\s*$/.test(header) ? 'missing' : 'unknown' };
    const digest = createHash('sha256').update(m[1]).digest();
    let found: TokenRecord | undefined;
    for (const d of this.digests) if (timingSafeEqual(d.digest, digest) && !found) found = d.record;
    if (!found) return { ok: false, why: 'unknown' };
    if (found.expires !== undefined && Date.parse(found.expires) <= this.now()) return { ok: false, why: 'expired', record: found };
    return { ok: true, record: found };
  }

  /** The valid, unexpired token the header carries, if any. */
  authenticate(header: string | undefined): TokenRecord | undefined {
    const a = this.check(header);
    return a.ok ? a.record : undefined;
  }
}

export function clientOf(req: Request): string {
  return req.ip ?? req.socket.remoteAddress ?? 'unknown';
}

/** A refused request, as the audit records it: the token's name (never its value), where, and why. */
export interface Refusal {
  status: 401 | 403;
  /** Token name, or `(no token)` / `(unknown token)`. */
  actor: string;
  client: string;
  method: string;
  /** The route pattern (`/api/v1/portals/:id/freeze`), not the raw path, so refusals group. */
  route: string;
  reason: string;
}

export function requireRole(tokens: TokenRegistry, role: Role, onRefusal: (r: Refusal) => void = () => undefined) {
  return (req: Request, res: Response, next: NextFunction) => {
    const a = tokens.check(req.header('authorization'));
    const route = (req.route as { path?: string } | undefined)?.path ?? (req.baseUrl || req.path);
    const refuse = (status: 401 | 403, actor: string, reason: string) => {
      onRefusal({ status, actor, client: clientOf(req), method: req.method, route, reason });
      if (status === 401) res.setHeader('WWW-Authenticate', a.ok === false && a.why === 'expired' ? 'Bearer error="invalid_token", error_description="token expired"' : 'Bearer');
      sendProblem(res, status, reason);
    };
    if (!a.ok) {
      if (a.why === 'expired') return refuse(401, a.record.name, `bearer token "${a.record.name}" expired at ${a.record.expires}; ask an admin for a new one`);
      return refuse(401, a.why === 'missing' ? '(no token)' : '(unknown token)', 'missing or unknown bearer token');
    }
    const rec = a.record;
    if (!roleAllows(rec.role, role)) return refuse(403, rec.name, `this needs the ${role} role; token "${rec.name}" is ${rec.role}`);
    res.locals.caller = { name: rec.name, role: rec.role, client: clientOf(req) } satisfies Caller;
    next();
  };
}

export function callerOf(res: Response): Caller {
  return res.locals.caller as Caller;
}
