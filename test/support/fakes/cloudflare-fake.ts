import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { isIPv4, isIPv6 } from 'node:net';

/**
 * A local stand-in for the Cloudflare API v4 DNS records endpoints, faithful for the calls the cloudflare provider
 * makes (list with name/type filters and pagination, create, PATCH edit, PUT update, delete):
 * - every answer is the v4 envelope {success, errors: [{code, message}], messages, result, result_info?};
 * - bearer-token auth: a missing or unknown token is 401 with code 10000, a read-only token writing is 403;
 * - a zone id it does not know is 404 (code 7003), a record id it does not know is 404 (code 81044);
 * - TTL must be 1 (automatic) or 60–86400 (400, code 1004 with error_chain 9021), A/AAAA content must be an
 *   address (9005/9006), CNAME cannot share a name with A/AAAA (81053), identical records are refused (81058),
 *   and proxied records are stored with TTL 1, as Cloudflare does;
 * - failNext() scripts 429 (with Retry-After) and 5xx answers.
 * Every request is recorded, so tests can count writes.
 */

export interface CfRecord {
  id: string;
  zone_id: string;
  zone_name: string;
  name: string;
  type: string;
  content: string;
  ttl: number;
  proxied: boolean;
  proxiable: boolean;
  comment: string | null;
  tags: string[];
  settings: Record<string, unknown>;
  meta: Record<string, unknown>;
  created_on: string;
  modified_on: string;
}

export interface CfRequest {
  method: string;
  /** Path below the base URL, e.g. /zones/<id>/dns_records/<id>. */
  path: string;
  query: Record<string, string>;
  body: string;
  authorized: boolean;
  status?: number;
}

interface ScriptedFailure {
  status: number;
  method?: string;
  retryAfter?: number;
  code: number;
  message: string;
}

export interface CloudflareFake {
  /** The API base URL (the provider's baseUrl), ending in /client/v4. */
  url: string;
  token: string;
  zones: Map<string, { name: string; records: CfRecord[] }>;
  requests: CfRequest[];
  /** Tokens that may read but not write (403 on writes, as a token without Zone.DNS edit gets). */
  readOnlyTokens: Set<string>;
  addZone(name: string): string;
  /** Sets the records of name/type directly (someone else changed it, or a test's starting point). */
  setRecords(zoneId: string, name: string, type: string, contents: string[], opts?: { ttl?: number; proxied?: boolean }): CfRecord[];
  records(zoneId: string, name?: string, type?: string): CfRecord[];
  /** Requests that change something (not GET), answered or not. */
  writes(): CfRequest[];
  /** The next `times` requests (of `method`, if given) get this status instead of being served. */
  failNext(status: number, opts?: { times?: number; method?: string; retryAfter?: number }): void;
  close(): Promise<void>;
}

const DEFAULT_PER_PAGE = 100;
const MAX_PER_PAGE = 5_000_000;

function now(): string {
  return new Date().toISOString();
}

function envelope(result: unknown, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ success: true, errors: [], messages: [], result, ...extra });
}

function failure(errors: { code: number; message: string; error_chain?: { code: number; message: string }[] }[]): string {
  return JSON.stringify({ success: false, errors, messages: [], result: null });
}

const recordBody = (raw: unknown): Record<string, unknown> | undefined =>
  raw !== null && typeof raw === 'object' && !Array.isArray(raw) ? (raw as Record<string, unknown>) : undefined;

export async function startCloudflareFake(opts: { token?: string } = {}): Promise<CloudflareFake> {
  const token = opts.token ?? `cf-token-${randomBytes(16).toString('hex')}`;
  const zones = new Map<string, { name: string; records: CfRecord[] }>();
  const requests: CfRequest[] = [];
  const readOnlyTokens = new Set<string>();
  const scripted: ScriptedFailure[] = [];

  const validate = (zoneId: string, rec: { name: string; type: string; content: string; ttl: number; proxied: boolean }, selfId?: string) => {
    const chain: { code: number; message: string }[] = [];
    if (!Number.isInteger(rec.ttl) || !(rec.ttl === 1 || (rec.ttl >= 60 && rec.ttl <= 86400))) {
      chain.push({ code: 9021, message: 'TTL must be between 60 and 86400 seconds, or 1 for Automatic.' });
    }
    if (rec.type === 'A' && !isIPv4(rec.content)) chain.push({ code: 9005, message: 'Content for A record must be a valid IPv4 address.' });
    if (rec.type === 'AAAA' && !isIPv6(rec.content)) chain.push({ code: 9006, message: 'Content for AAAA record must be a valid IPv6 address.' });
    if (rec.type === 'CNAME' && !/^[a-z0-9_.-]+$/i.test(rec.content)) chain.push({ code: 9007, message: 'Content for CNAME record is invalid.' });
    if (chain.length > 0) return { status: 400, body: failure([{ code: 1004, message: 'DNS Validation Error', error_chain: chain }]) };
    const others = (zones.get(zoneId)?.records ?? []).filter((r) => r.id !== selfId && r.name === rec.name);
    const hostTypes = ['A', 'AAAA', 'CNAME'];
    if (others.some((r) => hostTypes.includes(r.type) && (r.type === 'CNAME' || rec.type === 'CNAME'))) {
      return { status: 400, body: failure([{ code: 81053, message: 'An A, AAAA, or CNAME record with that host already exists.' }]) };
    }
    if (others.some((r) => r.type === rec.type && r.content === rec.content)) {
      return { status: 400, body: failure([{ code: 81058, message: 'An identical record already exists.' }]) };
    }
    return undefined;
  };

  const makeRecord = (zoneId: string, fields: { name: string; type: string; content: string; ttl: number; proxied: boolean }): CfRecord => {
    const zone = zones.get(zoneId);
    const at = now();
    return {
      id: randomBytes(16).toString('hex'),
      zone_id: zoneId,
      zone_name: zone?.name ?? '',
      name: fields.name,
      type: fields.type,
      content: fields.content,
      ttl: fields.proxied ? 1 : fields.ttl,
      proxied: fields.proxied,
      proxiable: ['A', 'AAAA', 'CNAME'].includes(fields.type),
      comment: null,
      tags: [],
      settings: {},
      meta: {},
      created_on: at,
      modified_on: at,
    };
  };

  const handle = (req: CfRequest, bearer: string | undefined): { status: number; body: string; headers?: Record<string, string> } => {
    const idx = scripted.findIndex((s) => s.method === undefined || s.method === req.method);
    if (idx >= 0) {
      const s = scripted[idx];
      scripted.splice(idx, 1);
      return { status: s.status, body: failure([{ code: s.code, message: s.message }]), headers: s.retryAfter !== undefined ? { 'Retry-After': String(s.retryAfter) } : undefined };
    }
    if (bearer !== token && !(bearer !== undefined && readOnlyTokens.has(bearer))) {
      return { status: 401, body: failure([{ code: 10000, message: 'Authentication error' }]) };
    }
    req.authorized = true;
    const m = /^\/zones\/([^/]+)\/dns_records(?:\/([^/]+))?$/.exec(req.path);
    if (!m) return { status: 400, body: failure([{ code: 7000, message: 'No route for that URI' }]) };
    const [, zoneId, recordId] = m;
    const zone = zones.get(zoneId);
    if (!zone) return { status: 404, body: failure([{ code: 7003, message: `Could not route to /zones/${zoneId}/dns_records, perhaps your object identifier is invalid?` }]) };
    if (req.method !== 'GET' && readOnlyTokens.has(bearer ?? '')) {
      return { status: 403, body: failure([{ code: 10000, message: 'Authentication error' }]) };
    }

    if (req.method === 'GET' && recordId === undefined) {
      const name = (req.query['name.exact'] ?? req.query.name)?.toLowerCase();
      const type = req.query.type;
      const perPage = Math.min(Math.max(Number(req.query.per_page ?? DEFAULT_PER_PAGE) || DEFAULT_PER_PAGE, 1), MAX_PER_PAGE);
      const page = Math.max(Number(req.query.page ?? 1) || 1, 1);
      const all = zone.records.filter((r) => (name === undefined || r.name === name) && (type === undefined || r.type === type));
      const slice = all.slice((page - 1) * perPage, page * perPage);
      return {
        status: 200,
        body: envelope(slice, { result_info: { page, per_page: perPage, count: slice.length, total_count: all.length, total_pages: Math.max(1, Math.ceil(all.length / perPage)) } }),
      };
    }

    let body: Record<string, unknown> | undefined;
    if (req.method === 'POST' || req.method === 'PATCH' || req.method === 'PUT') {
      try {
        body = recordBody(JSON.parse(req.body));
      } catch {
        body = undefined;
      }
      if (!body) return { status: 400, body: failure([{ code: 9207, message: 'Request body is invalid.' }]) };
    }

    if (req.method === 'POST' && recordId === undefined && body) {
      const fields = {
        name: String(body.name ?? '').toLowerCase().replace(/\.$/, ''),
        type: String(body.type ?? ''),
        content: String(body.content ?? ''),
        ttl: typeof body.ttl === 'number' ? body.ttl : 1,
        proxied: body.proxied === true,
      };
      const bad = validate(zoneId, fields);
      if (bad) return bad;
      const rec = makeRecord(zoneId, fields);
      zone.records.push(rec);
      return { status: 200, body: envelope(rec) };
    }

    if (recordId === undefined) return { status: 405, body: failure([{ code: 10405, message: 'Method not allowed' }]) };
    const existing = zone.records.find((r) => r.id === recordId);
    if (!existing) return { status: 404, body: failure([{ code: 81044, message: 'Record does not exist.' }]) };

    if (req.method === 'GET') return { status: 200, body: envelope(existing) };
    if (req.method === 'DELETE') {
      zone.records = zone.records.filter((r) => r.id !== recordId);
      return { status: 200, body: envelope({ id: recordId }) };
    }
    if ((req.method === 'PATCH' || req.method === 'PUT') && body) {
      // PATCH changes the fields given; PUT replaces the record (missing fields take their defaults).
      const base = req.method === 'PATCH' ? existing : { ...existing, ttl: 1, proxied: false };
      const proxied = typeof body.proxied === 'boolean' ? body.proxied : base.proxied;
      const fields = {
        name: body.name !== undefined ? String(body.name).toLowerCase().replace(/\.$/, '') : base.name,
        type: body.type !== undefined ? String(body.type) : base.type,
        content: body.content !== undefined ? String(body.content) : base.content,
        ttl: typeof body.ttl === 'number' ? body.ttl : base.ttl,
        proxied,
      };
      const bad = validate(zoneId, fields, recordId);
      if (bad) return bad;
      Object.assign(existing, fields, { ttl: proxied ? 1 : fields.ttl, modified_on: now() });
      return { status: 200, body: envelope(existing) };
    }
    return { status: 405, body: failure([{ code: 10405, message: 'Method not allowed' }]) };
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://fake');
      const path = url.pathname.replace(/^\/client\/v4/, '');
      const rec: CfRequest = {
        method: req.method ?? '',
        path,
        query: Object.fromEntries(url.searchParams.entries()),
        body: Buffer.concat(chunks).toString('utf8'),
        authorized: false,
      };
      requests.push(rec);
      const auth = req.headers.authorization;
      const bearer = auth?.startsWith('Bearer ') ? auth.slice('Bearer '.length) : undefined;
      const answer = url.pathname.startsWith('/client/v4/')
        ? handle(rec, bearer)
        : { status: 404, body: failure([{ code: 7000, message: 'No route for that URI' }]) };
      rec.status = answer.status;
      res.writeHead(answer.status, { 'Content-Type': 'application/json', 'cf-ray': randomBytes(8).toString('hex'), ...answer.headers });
      res.end(answer.body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  return {
    url: `http://127.0.0.1:${port}/client/v4`,
    token,
    zones,
    requests,
    readOnlyTokens,
    addZone(name) {
      const id = randomBytes(16).toString('hex');
      zones.set(id, { name: name.toLowerCase().replace(/\.$/, ''), records: [] });
      return id;
    },
    setRecords(zoneId, name, type, contents, o = {}) {
      const zone = zones.get(zoneId);
      if (!zone) throw new Error(`cloudflare fake: no zone ${zoneId}`);
      const n = name.toLowerCase().replace(/\.$/, '');
      zone.records = zone.records.filter((r) => !(r.name === n && r.type === type));
      const made = contents.map((content) => makeRecord(zoneId, { name: n, type, content, ttl: o.ttl ?? 60, proxied: o.proxied ?? false }));
      zone.records.push(...made);
      return made;
    },
    records(zoneId, name, type) {
      const n = name?.toLowerCase().replace(/\.$/, '');
      return (zones.get(zoneId)?.records ?? []).filter((r) => (n === undefined || r.name === n) && (type === undefined || r.type === type));
    },
    writes: () => requests.filter((r) => r.method !== 'GET'),
    failNext(status, o = {}) {
      const code = status === 429 ? 10429 : status >= 500 ? 10500 : 10400;
      const message = status === 429 ? 'Rate limited. Please wait and consider throttling your request speed' : status >= 500 ? 'Internal server error' : 'Bad request';
      for (let i = 0; i < (o.times ?? 1); i++) scripted.push({ status, method: o.method, retryAfter: o.retryAfter, code, message });
    },
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}
