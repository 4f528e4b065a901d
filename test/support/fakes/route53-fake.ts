import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { isIPv4, isIPv6 } from 'node:net';

/**
 * A local stand-in for the Route 53 REST/XML API (2013-04-01), faithful for the calls the route53 provider makes:
 * - POST /2013-04-01/hostedzone/{Id}/rrset (ChangeResourceRecordSetsRequest XML): the batch is applied all or
 *   nothing; CREATE of an existing set, DELETE of a missing set or with a TTL/values that do not match exactly,
 *   bad values (A/AAAA addresses, unquoted TXT), names outside the zone, and CNAME next to other data all fail the
 *   whole batch with 400 InvalidChangeBatch and every reason; the answer is ChangeInfo PENDING;
 * - GET /2013-04-01/change/{Id}: PENDING until `syncDelayMs` after the change, then INSYNC; 404 NoSuchChange;
 * - GET /2013-04-01/hostedzone/{Id}/rrset?name=&type=&maxitems=: record sets in Route 53's order (name with its
 *   labels reversed, then type) from name/type on, MaxItems/IsTruncated/NextRecordName/NextRecordType paging;
 * - errors as <ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/></ErrorResponse> with Route 53's
 *   statuses: 404 NoSuchHostedZone, 400 InvalidChangeBatch/InvalidInput/Throttling/PriorRequestNotComplete,
 *   403 AccessDenied (no Authorization header, or a zone this key may not touch), 403 InvalidClientTokenId (a key
 *   it does not know). The signature itself is not verified: the header must be SigV4 and name a known key.
 * Every request is recorded, so tests can count writes.
 */

export interface R53Set {
  name: string;
  type: string;
  ttl: number;
  values: string[];
}

export interface R53Request {
  method: string;
  path: string;
  query: Record<string, string>;
  body: string;
  action: 'ChangeResourceRecordSets' | 'GetChange' | 'ListResourceRecordSets' | 'unknown';
  accessKeyId?: string;
  status?: number;
  errorCode?: string;
}

export interface R53Change {
  action: 'CREATE' | 'DELETE' | 'UPSERT';
  set: R53Set;
}

interface Zone {
  id: string;
  name: string;
  sets: R53Set[];
}

interface ScriptedError {
  code: string;
  status: number;
  message: string;
  action?: R53Request['action'];
}

export interface Route53Fake {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Changes stay PENDING this long, then GetChange says INSYNC. */
  syncDelayMs: number;
  requests: R53Request[];
  addZone(name: string): string;
  sets(zoneId: string): R53Set[];
  get(zoneId: string, name: string, type: string): R53Set | undefined;
  /** Sets a record set directly (values [] removes it): someone else's change, or a test's starting point. */
  put(zoneId: string, set: R53Set): void;
  /** ChangeResourceRecordSets requests, answered or refused. */
  writes(): R53Request[];
  /** The changes of each accepted batch, parsed from the request XML. */
  acceptedBatches(): R53Change[][];
  failNext(code: 'Throttling' | 'PriorRequestNotComplete' | 'InternalFailure' | 'ServiceUnavailable', opts?: { times?: number; action?: R53Request['action'] }): void;
  /** This key may not call anything on the zone (an IAM policy that does not list it). */
  deny(zoneId: string): void;
  close(): Promise<void>;
}

const NS = 'https://route53.amazonaws.com/doc/2013-04-01/';

// --- a small XML reader, enough for Route 53 request bodies ----------------------------------------------------

export interface XmlNode {
  name: string;
  children: XmlNode[];
  text: string;
}

function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos);/gi, (_all, e: string) => {
    const lower = e.toLowerCase();
    if (lower === 'amp') return '&';
    if (lower === 'lt') return '<';
    if (lower === 'gt') return '>';
    if (lower === 'quot') return '"';
    if (lower === 'apos') return "'";
    return String.fromCodePoint(lower.startsWith('#x') ? parseInt(lower.slice(2), 16) : parseInt(lower.slice(1), 10));
  });
}

export function parseXml(text: string): XmlNode {
  let i = 0;
  const src = text.replace(/^\uFEFF/, '');
  const skipMisc = () => {
    for (;;) {
      while (i < src.length && /\s/.test(src[i])) i++;
      if (src.startsWith('<?', i)) i = src.indexOf('?>', i) + 2;
      else if (src.startsWith('<!--', i)) i = src.indexOf('-->', i) + 3;
      else return;
      if (i < 2) throw new Error('unterminated XML declaration or comment');
    }
  };
  const element = (): XmlNode => {
    const open = /^<([A-Za-z_][\w.:-]*)((?:\s+[\w.:-]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>/.exec(src.slice(i));
    if (!open) throw new Error(`malformed XML at offset ${i}`);
    i += open[0].length;
    const node: XmlNode = { name: open[1].replace(/^.*:/, ''), children: [], text: '' };
    if (open[3] === '/') return node;
    for (;;) {
      if (i >= src.length) throw new Error(`unterminated element <${open[1]}>`);
      if (src.startsWith('</', i)) {
        const close = /^<\/([A-Za-z_][\w.:-]*)\s*>/.exec(src.slice(i));
        if (!close || close[1] !== open[1]) throw new Error(`mismatched closing tag at offset ${i}`);
        i += close[0].length;
        node.text = decodeEntities(node.text);
        return node;
      }
      if (src.startsWith('<!--', i)) {
        i = src.indexOf('-->', i) + 3;
      } else if (src.startsWith('<![CDATA[', i)) {
        const end = src.indexOf(']]>', i);
        node.text += src.slice(i + 9, end);
        i = end + 3;
      } else if (src[i] === '<') {
        node.children.push(element());
      } else {
        const next = src.indexOf('<', i);
        node.text += src.slice(i, next < 0 ? src.length : next);
        i = next < 0 ? src.length : next;
      }
    }
  };
  skipMisc();
  const root = element();
  skipMisc();
  if (i < src.length) throw new Error('content after the root element');
  return root;
}

function child(node: XmlNode | undefined, name: string): XmlNode | undefined {
  return node?.children.find((c) => c.name === name);
}

function childText(node: XmlNode | undefined, name: string): string | undefined {
  const c = child(node, name);
  return c ? c.text.trim() : undefined;
}

// --- XML writing --------------------------------------------------------------------------------------------------

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function setXml(s: R53Set): string {
  const records = s.values.map((v) => `<ResourceRecord><Value>${esc(v)}</Value></ResourceRecord>`).join('');
  return `<ResourceRecordSet><Name>${esc(s.name)}</Name><Type>${s.type}</Type><TTL>${s.ttl}</TTL><ResourceRecords>${records}</ResourceRecords></ResourceRecordSet>`;
}

function changeInfoXml(c: { id: string; status: string; submittedAt: Date; comment?: string }): string {
  const comment = c.comment !== undefined ? `<Comment>${esc(c.comment)}</Comment>` : '';
  return `<ChangeInfo><Id>/change/${c.id}</Id><Status>${c.status}</Status><SubmittedAt>${c.submittedAt.toISOString()}</SubmittedAt>${comment}</ChangeInfo>`;
}

// --- names and order ---------------------------------------------------------------------------------------------

function canonical(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith('.') ? lower : `${lower}.`;
}

/** Route 53 lists by name with the labels reversed (com.example.www), then by type. */
function compareSets(a: { name: string; type: string }, b: { name: string; type: string }): number {
  const la = a.name.replace(/\.$/, '').split('.').reverse();
  const lb = b.name.replace(/\.$/, '').split('.').reverse();
  for (let k = 0; k < Math.min(la.length, lb.length); k++) {
    if (la[k] !== lb[k]) return la[k] < lb[k] ? -1 : 1;
  }
  if (la.length !== lb.length) return la.length - lb.length;
  return a.type < b.type ? -1 : a.type > b.type ? 1 : 0;
}

function inZone(name: string, zone: string): boolean {
  return name === zone || name.endsWith(`.${zone}`);
}

/** Route 53's check of one value, as its "Invalid Resource Record" messages phrase it. */
function valueProblem(type: string, value: string): string | undefined {
  const fatal = (what: string, why: string) => `Invalid Resource Record: 'FATAL problem: ${what} (${why}) encountered with '${value}''`;
  if (type === 'A' && !isIPv4(value)) return fatal('ARRDATAIllegalIPv4Address', 'Value is not a valid IPv4 address');
  if (type === 'AAAA' && !isIPv6(value)) return fatal('AAAARRDATAIllegalIPv6Address', 'Value is not a valid IPv6 address');
  if (type === 'TXT' && !/^"(?:[^"\\]|\\.)*"(?:\s+"(?:[^"\\]|\\.)*")*$/.test(value)) {
    return fatal('InvalidCharacterString', 'Value should be enclosed in quotation marks');
  }
  if (type === 'CNAME' && !/^[a-z0-9_*.-]+\.?$/i.test(value)) return fatal('DomainLabelEmpty', 'Domain label is empty');
  return undefined;
}

function sameValues(a: string[], b: string[]): boolean {
  const x = [...a].sort();
  const y = [...b].sort();
  return x.length === y.length && x.every((v, k) => v === y[k]);
}

export async function startRoute53Fake(opts: { accessKeyId?: string; secretAccessKey?: string; syncDelayMs?: number } = {}): Promise<Route53Fake> {
  const accessKeyId = opts.accessKeyId ?? `AKIA${randomBytes(8).toString('hex').toUpperCase()}`;
  const secretAccessKey = opts.secretAccessKey ?? randomBytes(30).toString('base64');
  const zones = new Map<string, Zone>();
  const changes = new Map<string, { id: string; submittedAt: Date; comment?: string }>();
  const requests: R53Request[] = [];
  const batches: R53Change[][] = [];
  const scripted: ScriptedError[] = [];
  const denied = new Set<string>();

  const fake = {
    syncDelayMs: opts.syncDelayMs ?? 300,
  };

  const error = (status: number, code: string, message: string, type = status >= 500 ? 'Receiver' : 'Sender') => ({
    status,
    code,
    body: `<?xml version="1.0"?>\n<ErrorResponse xmlns="${NS}"><Error><Type>${type}</Type><Code>${code}</Code><Message>${esc(message)}</Message></Error><RequestId>${randomBytes(16).toString('hex')}</RequestId></ErrorResponse>`,
  });
  const ok = (body: string) => ({ status: 200, code: undefined, body: `<?xml version="1.0"?>\n${body}` });

  const applyBatch = (zone: Zone, batch: R53Change[]): string[] => {
    const problems: string[] = [];
    const work = zone.sets.map((s) => ({ ...s, values: [...s.values] }));
    for (const { action, set } of batch) {
      const where = `[name='${set.name}', type='${set.type}']`;
      if (!inZone(set.name, zone.name)) {
        problems.push(`RRSet with DNS name ${set.name} is not permitted in zone ${zone.name}`);
        continue;
      }
      for (const v of set.values) {
        const p = valueProblem(set.type, v);
        if (p) problems.push(p);
      }
      if (set.type === 'CNAME' && set.values.length > 1) problems.push(`RRSet of type CNAME with DNS name ${set.name} has more than one record`);
      if (action !== 'DELETE' && set.values.length === 0) problems.push(`Tried to ${action.toLowerCase()} resource record set ${where} without any values`);
      const at = work.findIndex((s) => s.name === set.name && s.type === set.type);
      if (action === 'CREATE') {
        if (at >= 0) problems.push(`Tried to create resource record set ${where} but it already exists`);
        else work.push({ ...set, values: [...set.values] });
      } else if (action === 'DELETE') {
        if (at < 0) problems.push(`Tried to delete resource record set ${where} but it was not found`);
        else if (work[at].ttl !== set.ttl || !sameValues(work[at].values, set.values)) {
          problems.push(`Tried to delete resource record set ${where} but the values provided do not match the current values`);
        } else work.splice(at, 1);
      } else if (at >= 0) work[at] = { ...set, values: [...set.values] };
      else work.push({ ...set, values: [...set.values] });
    }
    for (const s of work) {
      if (s.type === 'CNAME' && work.some((o) => o.name === s.name && o.type !== 'CNAME')) {
        problems.push(`RRSet of type CNAME with DNS name ${s.name} is not permitted as it conflicts with other records with the same DNS name in zone ${zone.name}`);
      }
    }
    if (problems.length === 0) zone.sets = work.sort(compareSets);
    return [...new Set(problems)];
  };

  const parseBatch = (body: string): { comment?: string; changes: R53Change[] } | string => {
    let root: XmlNode;
    try {
      root = parseXml(body);
    } catch (err) {
      return `Could not parse the request: ${(err as Error).message}`;
    }
    if (root.name !== 'ChangeResourceRecordSetsRequest') return `Unexpected root element ${root.name}`;
    const batch = child(root, 'ChangeBatch');
    const list = child(batch, 'Changes');
    if (!list || list.children.length === 0) return 'ChangeBatch.Changes must contain at least one change';
    const out: R53Change[] = [];
    for (const c of list.children) {
      const action = childText(c, 'Action');
      const rrs = child(c, 'ResourceRecordSet');
      if (action !== 'CREATE' && action !== 'DELETE' && action !== 'UPSERT') return `Invalid Action ${action ?? '(none)'}`;
      const name = childText(rrs, 'Name');
      const type = childText(rrs, 'Type');
      const ttl = childText(rrs, 'TTL');
      if (!name || !type) return 'ResourceRecordSet needs Name and Type';
      if (ttl === undefined || !/^\d+$/.test(ttl)) return `ResourceRecordSet ${name} ${type} needs a TTL`;
      const values = (child(rrs, 'ResourceRecords')?.children ?? []).map((r) => childText(r, 'Value') ?? '');
      out.push({ action, set: { name: canonical(name), type, ttl: Number(ttl), values } });
    }
    return { comment: childText(batch, 'Comment'), changes: out };
  };

  const handle = (req: R53Request, authorization: string | undefined) => {
    const m = /Credential=([^/,\s]+)\/\d{8}\/([^/]+)\/([^/]+)\/aws4_request/.exec(authorization ?? '');
    if (!authorization || !authorization.startsWith('AWS4-HMAC-SHA256 ') || !m) {
      return error(403, 'AccessDenied', 'Missing Authentication Token: requests must be signed with AWS Signature Version 4');
    }
    req.accessKeyId = m[1];
    if (m[1] !== accessKeyId) return error(403, 'InvalidClientTokenId', 'The security token included in the request is invalid.');
    if (m[3] !== 'route53') return error(403, 'InvalidSignature', `Credential should be scoped to correct service: 'route53'.`);

    const idx = scripted.findIndex((s) => s.action === undefined || s.action === req.action);
    if (idx >= 0) {
      const s = scripted.splice(idx, 1)[0];
      return error(s.status, s.code, s.message);
    }

    const change = /^\/2013-04-01\/change\/([^/]+)$/.exec(req.path);
    if (change && req.method === 'GET') {
      const c = changes.get(change[1]);
      if (!c) return error(404, 'NoSuchChange', `A change with the specified change ID does not exist: ${change[1]}`);
      const status = Date.now() - c.submittedAt.getTime() >= fake.syncDelayMs ? 'INSYNC' : 'PENDING';
      return ok(`<GetChangeResponse xmlns="${NS}">${changeInfoXml({ ...c, status })}</GetChangeResponse>`);
    }

    const rrset = /^\/2013-04-01\/hostedzone\/([^/]+)\/rrset\/?$/.exec(req.path);
    if (!rrset) return error(404, 'UnknownOperationException', `Unknown operation ${req.method} ${req.path}`);
    const zone = zones.get(rrset[1]);
    const action = req.method === 'POST' ? 'ChangeResourceRecordSets' : 'ListResourceRecordSets';
    if (denied.has(rrset[1])) {
      return error(
        403,
        'AccessDenied',
        `User: arn:aws:iam::123456789012:user/portal-failover is not authorized to perform: route53:${action} on resource: arn:aws:route53:::hostedzone/${rrset[1]} because no identity-based policy allows the route53:${action} action`,
      );
    }
    if (!zone) return error(404, 'NoSuchHostedZone', `No hosted zone found with ID: ${rrset[1]}`);

    if (req.method === 'GET') {
      const name = req.query.name !== undefined ? canonical(req.query.name) : undefined;
      const type = req.query.type;
      if (type !== undefined && name === undefined) return error(400, 'InvalidInput', 'The input is not valid: type requires name');
      const maxItems = Math.min(Math.max(Number(req.query.maxitems ?? 300) || 300, 1), 300);
      const from = zone.sets.filter((s) => name === undefined || compareSets(s, { name, type: type ?? '' }) >= 0);
      const page = from.slice(0, maxItems);
      const next = from[maxItems];
      const more = next ? `<NextRecordName>${esc(next.name)}</NextRecordName><NextRecordType>${next.type}</NextRecordType>` : '';
      return ok(
        `<ListResourceRecordSetsResponse xmlns="${NS}"><ResourceRecordSets>${page.map(setXml).join('')}</ResourceRecordSets><IsTruncated>${next ? 'true' : 'false'}</IsTruncated>${more}<MaxItems>${maxItems}</MaxItems></ListResourceRecordSetsResponse>`,
      );
    }
    if (req.method !== 'POST') return error(405, 'MethodNotAllowed', `${req.method} is not allowed here`);
    const parsed = parseBatch(req.body);
    if (typeof parsed === 'string') return error(400, 'InvalidInput', parsed);
    const problems = applyBatch(zone, parsed.changes);
    if (problems.length > 0) return error(400, 'InvalidChangeBatch', `[${problems.join(', ')}]`);
    batches.push(parsed.changes);
    const id = `C${randomBytes(10).toString('hex').toUpperCase().slice(0, 13)}`;
    const info = { id, submittedAt: new Date(), comment: parsed.comment };
    changes.set(id, info);
    return ok(`<ChangeResourceRecordSetsResponse xmlns="${NS}">${changeInfoXml({ ...info, status: 'PENDING' })}</ChangeResourceRecordSetsResponse>`);
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://fake');
      const path = url.pathname;
      const rec: R53Request = {
        method: req.method ?? '',
        path,
        query: Object.fromEntries(url.searchParams.entries()),
        body: Buffer.concat(chunks).toString('utf8'),
        action: /\/rrset\/?$/.test(path) ? (req.method === 'POST' ? 'ChangeResourceRecordSets' : 'ListResourceRecordSets') : /\/change\//.test(path) ? 'GetChange' : 'unknown',
      };
      requests.push(rec);
      const answer = handle(rec, req.headers.authorization);
      rec.status = answer.status;
      rec.errorCode = answer.code;
      res.writeHead(answer.status, { 'Content-Type': 'text/xml', 'x-amzn-RequestId': randomBytes(16).toString('hex') });
      res.end(answer.body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    region: 'us-east-1',
    accessKeyId,
    secretAccessKey,
    get syncDelayMs() {
      return fake.syncDelayMs;
    },
    set syncDelayMs(ms: number) {
      fake.syncDelayMs = ms;
    },
    requests,
    addZone(name) {
      const id = `Z${randomBytes(10).toString('hex').toUpperCase().slice(0, 19)}`;
      const zoneName = canonical(name);
      zones.set(id, {
        id,
        name: zoneName,
        sets: [
          { name: zoneName, type: 'NS', ttl: 172800, values: ['ns-1.awsdns-00.com.', 'ns-2.awsdns-00.net.'] },
          { name: zoneName, type: 'SOA', ttl: 900, values: ['ns-1.awsdns-00.com. awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400'] },
        ],
      });
      return id;
    },
    sets: (zoneId) => (zones.get(zoneId)?.sets ?? []).map((s) => ({ ...s, values: [...s.values] })),
    get(zoneId, name, type) {
      const s = zones.get(zoneId)?.sets.find((x) => x.name === canonical(name) && x.type === type);
      return s ? { ...s, values: [...s.values] } : undefined;
    },
    put(zoneId, set) {
      const zone = zones.get(zoneId);
      if (!zone) throw new Error(`route53 fake: no zone ${zoneId}`);
      const name = canonical(set.name);
      zone.sets = zone.sets.filter((s) => !(s.name === name && s.type === set.type));
      if (set.values.length > 0) zone.sets.push({ ...set, name, values: [...set.values] });
      zone.sets.sort(compareSets);
    },
    writes: () => requests.filter((r) => r.action === 'ChangeResourceRecordSets'),
    acceptedBatches: () => batches.map((b) => b.map((c) => ({ action: c.action, set: { ...c.set, values: [...c.set.values] } }))),
    failNext(code, o = {}) {
      const table = {
        Throttling: { status: 400, message: 'Rate exceeded' },
        PriorRequestNotComplete: { status: 400, message: 'The request was rejected because Route 53 was still processing a prior request.' },
        InternalFailure: { status: 500, message: 'An internal error occurred.' },
        ServiceUnavailable: { status: 503, message: 'Service is unavailable.' },
      } as const;
      for (let k = 0; k < (o.times ?? 1); k++) scripted.push({ code, ...table[code], action: o.action });
    },
    deny(zoneId) {
      denied.add(zoneId);
    },
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}
