import http, { type ClientRequest, type IncomingMessage } from 'node:http';
import https from 'node:https';
import { performance } from 'node:perf_hooks';
import zlib from 'node:zlib';
import type { HttpCheckConfig } from '../config/schema';
import type { ProbeOutcome, SeenResponse } from '../core/observation';
import { networkFailure, redact, type ProbeOptions, type Verdict } from './tcp.check';
import { identityProblem, peerIdentity, tlsSummary, trustedCas, type PeerIdentity } from './tls-identity';
import type { TLSSocket } from 'node:tls';
import { LIVENESS_PATH, livenessProblem } from './liveness';
import { readVersion, type VersionSource } from './content-version';
import { stallAwareDeadline, stallClock, stallNote } from '../runtime/deadline';

export type { ProbeOptions } from './tcp.check';

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

interface Reply {
  req: ClientRequest;
  res: IncomingMessage;
  status: number;
}

export async function probeHttp(check: HttpCheckConfig, opts: ProbeOptions = {}): Promise<ProbeOutcome> {
  const started = performance.now();
  // Only a judged latency needs the stall clock; without one no process starts its timer.
  const clock: ProbeClock = { started, stall: check.expect.maxLatency !== undefined ? stallClock() : NO_STALL };
  // One deadline for the whole probe, redirects included: per-socket idle timeouts never fire on a server
  // that trickles a byte now and then, and a hung portal must be reported within the check's timeout.
  const stop = new AbortController();
  let stalledMs = 0;
  const deadline = stallAwareDeadline(check.timeout, (stalled) => {
    stalledMs = stalled;
    stop.abort('timeout');
  });
  const onAbort = () => stop.abort('aborted');
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  if (opts.signal?.aborted) onAbort();
  let verdict: Verdict;
  try {
    verdict = await run(check, stop.signal, clock, opts);
  } catch (err) {
    verdict = stop.signal.aborted
      ? { ok: false, reason: 'timeout', detail: stop.signal.reason === 'aborted' ? 'aborted' : `no complete response within ${check.timeout} ms${stallNote(stalledMs)}` }
      : networkFailure(err);
  } finally {
    deadline.cancel();
    opts.signal?.removeEventListener('abort', onAbort);
  }
  return { ...verdict, detail: verdict.detail === undefined ? undefined : redact(verdict.detail), durationMs: performance.now() - started };
}

interface WantedVersion {
  source: VersionSource;
  required: boolean;
}

async function run(check: HttpCheckConfig, signal: AbortSignal, clock: ProbeClock, opts: ProbeOptions): Promise<Verdict> {
  const { portal, version: versionSource, keepResponse } = opts;
  // A sameVersionAs readiness check must read its version; other checks read one only when the controller
  // compares another site against this one (opts.version), and do not fail without it.
  const own = check.expect.sameVersionAs;
  const wanted: WantedVersion | undefined = own ? { source: own, required: true } : versionSource ? { source: versionSource, required: false } : undefined;
  const verdict = await fetchAndJudge(check, signal, clock, wanted, keepResponse);
  if (!verdict.ok || check.expect.liveness === undefined) return verdict;
  const problem = await livenessOf(check, signal, portal);
  return problem === undefined ? verdict : { ...verdict, ok: false, reason: 'liveness', detail: problem };
}

/**
 * Fetches /.well-known/portal-liveness on the check URL's origin (same TLS options, same deadline) and judges the
 * token. Asked only after the page itself passed: a page that fails already says why.
 */
async function livenessOf(check: HttpCheckConfig, signal: AbortSignal, portal: string | undefined): Promise<string | undefined> {
  const expect = check.expect.liveness!;
  if (portal === undefined) return 'liveness token cannot be judged: the probe was not told its portal';
  const url = new URL(LIVENESS_PATH, check.url);
  const ca = url.protocol === 'https:' ? await trustedCas(check.tls.ca) : undefined;
  const reply = await send(url, { ...check, method: 'GET' }, signal, ca);
  try {
    if (reply.status !== 200) return `no liveness token at ${LIVENESS_PATH} (HTTP ${reply.status})`;
    const { body, overLimit } = await readBody(reply.res, 64 * 1024, signal);
    if (overLimit) return 'liveness token larger than 64 KiB';
    return livenessProblem(body.toString('utf8'), { portal, publicKey: expect.publicKey, maxAgeMs: expect.maxAge }, Date.now());
  } finally {
    reply.req.destroy();
  }
}

async function fetchAndJudge(check: HttpCheckConfig, signal: AbortSignal, clock: ProbeClock, wanted: WantedVersion | undefined, keep: KeepResponse): Promise<Verdict> {
  let url = new URL(check.url);
  const ca = url.protocol === 'https:' ? await trustedCas(check.tls.ca) : undefined;
  let certExpiresAt: number | undefined;
  const withCert = (v: Verdict): Verdict => (certExpiresAt === undefined ? v : { ...v, certExpiresAt });
  for (let hop = 0; ; hop++) {
    const reply = await send(url, check, signal, ca);
    const failed = (v: Verdict) => withSeen(v, reply, keep, signal);
    try {
      const { status } = reply;
      if (hop === 0 && url.protocol === 'https:') {
        // The configured URL's certificate is the portal's. Judged before the status: a provider that swapped
        // it serves whatever status it likes.
        const id = peerIdentity(reply.res.socket as TLSSocket);
        certExpiresAt = id?.notAfter;
        const bad = certificateProblem(id, check);
        if (bad) return withCert(await failed({ ok: false, reason: 'tls', status, detail: bad }));
      }
      const location = REDIRECTS.has(status) ? reply.res.headers.location : undefined;
      if (location === undefined) return withCert(await judge(reply, check, signal, clock, undefined, wanted, keep));
      let next: URL;
      try {
        next = new URL(location, url);
      } catch {
        return withCert(await failed({ ok: false, reason: 'redirect', status, detail: `HTTP ${status} with an unusable Location header` }));
      }
      // Checked even when not following: hosting providers answer a suspended account with a redirect to
      // their own "account suspended" page, which must not pass as a healthy 302.
      if (!sameHost(url, next) && !check.redirects.allowOtherHost) {
        return withCert(await failed({ ok: false, reason: 'redirect', status, detail: `HTTP ${status} redirects to another host: ${safeUrl(next)}` }));
      }
      if (!check.redirects.follow) return withCert(await judge(reply, check, signal, clock, next, wanted, keep));
      if (hop >= check.redirects.max) {
        return withCert(await failed({ ok: false, reason: 'redirect', status, detail: `more than ${check.redirects.max} redirects, last to ${safeUrl(next)}` }));
      }
      if (next.protocol !== 'http:' && next.protocol !== 'https:') {
        return withCert(await failed({ ok: false, reason: 'redirect', status, detail: `HTTP ${status} redirects to a non-HTTP URL` }));
      }
      url = next;
    } finally {
      reply.req.destroy();
    }
  }
}

/**
 * expect.tlsIssuer / expect.spkiSha256 against the presented certificate. Chain, host name and expiry were
 * already enforced by the handshake when tls.verify is on; with it off only the configured expectations apply.
 */
function certificateProblem(id: PeerIdentity | undefined, check: HttpCheckConfig): string | undefined {
  const { tlsIssuer, spkiSha256 } = check.expect;
  if (tlsIssuer === undefined && spkiSha256 === undefined) return undefined;
  if (id === undefined) return 'the server presented no certificate';
  return identityProblem(id, { issuer: tlsIssuer, spkiSha256 }, Date.now());
}

/** Judges the final response: status, then body size and content, then latency. */
async function judge(reply: Reply, check: HttpCheckConfig, signal: AbortSignal, clock: ProbeClock, location: URL | undefined, wanted: WantedVersion | undefined, keep: KeepResponse): Promise<Verdict> {
  const { status } = reply;
  const { expect } = check;
  let read: ReadBody | undefined;
  const failed = (v: Verdict) => withSeen(v, reply, keep, signal, read);
  if (!expect.status.includes(status)) {
    const to = location ? ` (Location: ${safeUrl(location)})` : '';
    return failed({ ok: false, reason: 'status', status, detail: `HTTP ${status}, expected ${expect.status.join(' or ')}${to}` });
  }
  const hasBodyRules = expect.bodyIncludes.length > 0 || expect.bodyExcludes.length > 0;
  let versionBody: Buffer | undefined;
  if (check.method !== 'HEAD') {
    // Read even without body rules, so that a body that never finishes counts against the deadline.
    read = await readBody(reply.res, check.maxBodyBytes, signal);
    const { body, overLimit } = read;
    if (hasBodyRules || wanted?.source.jsonPointer !== undefined) {
      if (overLimit) return failed({ ok: false, reason: 'body_too_large', status, detail: `body larger than ${check.maxBodyBytes} bytes` });
      const encoding = reply.res.headers['content-encoding'];
      let decoded: Buffer;
      try {
        decoded = decode(body, encoding, check.maxBodyBytes);
      } catch (err) {
        const tooLarge = err instanceof RangeError;
        return failed(
          tooLarge
            ? { ok: false, reason: 'body_too_large', status, detail: `decompressed body larger than ${check.maxBodyBytes} bytes` }
            : { ok: false, reason: 'content', status, detail: `body is not valid ${encoding}` },
        );
      }
      const bad = contentProblem(decoded, check);
      if (bad) return failed({ ok: false, reason: 'content', status, detail: bad });
      versionBody = decoded;
    }
  }
  let version: string | undefined;
  if (wanted) {
    const v = readVersion(reply.res.headers, versionBody, wanted.source);
    if (v.ok) version = v.version;
    else if (wanted.required) return failed({ ok: false, reason: 'content', status, detail: v.error });
  }
  if (expect.maxLatency !== undefined) {
    const elapsed = performance.now() - clock.started;
    const stalled = clock.stall.stalledMs();
    if (elapsed - stalled > expect.maxLatency) {
      const note = stalled > 0 ? ` (${Math.round(stalled)} ms of it this checker was stalled, not counted)` : '';
      return failed({ ok: false, reason: 'latency', status, detail: `took ${Math.round(elapsed)} ms${note}, limit ${expect.maxLatency} ms`, version });
    }
  }
  return { ok: true, status, version };
}

function contentProblem(body: Buffer, check: HttpCheckConfig): string | undefined {
  // NFC so that Vietnamese text typed precomposed matches pages that send combining marks, and vice versa.
  const fold = (s: string) => s.normalize('NFC').toLowerCase();
  const text = fold(body.toString('utf8'));
  const missing = check.expect.bodyIncludes.find((s) => !text.includes(fold(s)));
  if (missing !== undefined) return `body does not contain ${JSON.stringify(missing)}`;
  const found = check.expect.bodyExcludes.find((s) => text.includes(fold(s)));
  if (found !== undefined) return `body contains ${JSON.stringify(found)}`;
  return undefined;
}

/** Servers that compress despite `accept-encoding: identity` must not slip a suspension page past bodyExcludes. */
function decode(body: Buffer, encoding: string | undefined, limit: number): Buffer {
  const opts = { maxOutputLength: limit };
  switch (encoding?.trim().toLowerCase()) {
    case 'gzip':
    case 'x-gzip':
      return zlib.gunzipSync(body, opts);
    case 'deflate':
      return zlib.inflateSync(body, opts);
    case 'br':
      return zlib.brotliDecompressSync(body, opts);
    default:
      return body;
  }
}

/**
 * Plain HTTP probes share one agent that never keeps a socket (each probe still opens and closes its own
 * connection): `agent: false` builds a new Agent per request, a measurable cost at thousands of probes a second.
 * HTTPS keeps `agent: false`, so no TLS session is ever resumed and every probe sees the full handshake and the
 * certificate.
 */
const plainAgent = new http.Agent({ keepAlive: false });

function send(url: URL, check: HttpCheckConfig, signal: AbortSignal, ca: string[] | undefined): Promise<Reply> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new Error('aborted'));
    const headers: Record<string, string> = { 'user-agent': 'portal-failover-checker' };
    for (const [name, value] of Object.entries(check.headers)) headers[name.toLowerCase()] = value;
    // Forced: a compressed body would defeat the body rules, and a kept-alive socket would hide a dead server.
    headers['accept-encoding'] = 'identity';
    headers.connection = 'close';
    const options: https.RequestOptions = {
      method: check.method,
      headers,
      agent: url.protocol === 'https:' ? false : plainAgent,
      rejectUnauthorized: check.tls.verify,
      servername: check.tls.serverName,
      ca,
    };
    const mod = url.protocol === 'https:' ? https : http;
    const req = mod.request(url, options, (res) => {
      signal.removeEventListener('abort', onAbort);
      // Keeps an unread response from crashing the process; readBody reports errors while reading.
      res.on('error', () => undefined);
      resolve({ req, res, status: res.statusCode ?? 0 });
    });
    const onAbort = () => {
      req.destroy();
      reject(new Error('aborted'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    // Stays attached after the response: a late socket error must not become an uncaught 'error' event.
    req.on('error', (err) => {
      signal.removeEventListener('abort', onAbort);
      reject(err);
    });
    req.end();
  });
}

type KeepResponse = ProbeOptions['keepResponse'];
/** When the probe started, and how long this process has stalled since (subtracted from a judged latency). */
interface ProbeClock {
  started: number;
  stall: { stalledMs(): number };
}
const NO_STALL = { stalledMs: () => 0 };
type ReadBody = { body: Buffer; overLimit: boolean };

/** A failed verdict with the response it was given, when the caller keeps responses (evidence of a cut). */
async function withSeen(v: Verdict, reply: Reply, keep: KeepResponse, signal: AbortSignal, read?: ReadBody): Promise<Verdict> {
  return keep === undefined ? v : { ...v, response: await seenResponse(reply.res, keep.maxBodyBytes, signal, read) };
}

/**
 * What a response served, as evidence of a cut keeps it: status, headers, certificate and the first `maxBodyBytes`
 * of the body, read now unless `read` already holds it. A body that cannot be read (cut, deadline) is noted in
 * `error`; the rest is kept. Shared by the probe (its own failing response) and the checker's second request.
 */
export async function seenResponse(res: IncomingMessage, maxBodyBytes: number, signal: AbortSignal, read?: ReadBody): Promise<SeenResponse> {
  const headers: Record<string, string | string[]> = {};
  for (const [k, value] of Object.entries(res.headers)) if (value !== undefined) headers[k] = value;
  const tls = tlsSummary(res.socket);
  const seen: SeenResponse = { status: res.statusCode, headers, ...(tls ? { tls } : {}) };
  try {
    const got = read ?? (await readBody(res, maxBodyBytes, signal));
    const body = got.body.subarray(0, maxBodyBytes);
    return { ...seen, body: body.toString('utf8'), bodyBytes: got.body.length, truncated: got.overLimit || got.body.length > maxBodyBytes };
  } catch (err) {
    return { ...seen, error: `body not read: ${(err as Error).message}` };
  }
}

function readBody(res: IncomingMessage, limit: number, signal: AbortSignal): Promise<ReadBody> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (err?: unknown) => {
      signal.removeEventListener('abort', onAbort);
      if (err === undefined) resolve({ body: Buffer.concat(chunks), overLimit: size > limit });
      else reject(err);
    };
    const onAbort = () => {
      res.destroy();
      done(new Error('aborted'));
    };
    res.on('data', (chunk: Buffer) => {
      const room = limit - size;
      size += chunk.length;
      if (size <= limit) return void chunks.push(chunk);
      chunks.push(chunk.subarray(0, Math.max(room, 0)));
      res.destroy();
      done();
    });
    const cut = () => Object.assign(new Error('connection closed before the body was complete'), { code: 'ECONNRESET' });
    res.on('end', () => done());
    // Node reports a cut body as ECONNRESET "aborted", which would read like our own abort detail.
    res.on('error', (err: NodeJS.ErrnoException) => done(err.code === 'ECONNRESET' ? cut() : err));
    res.on('close', () => {
      if (!res.complete) done(cut());
    });
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) onAbort();
  });
}

function sameHost(a: URL, b: URL): boolean {
  return a.hostname.toLowerCase() === b.hostname.toLowerCase() && effectivePort(a) === effectivePort(b);
}

function effectivePort(u: URL): string {
  return u.port || (u.protocol === 'https:' ? '443' : u.protocol === 'http:' ? '80' : '');
}

function safeUrl(u: URL): string {
  const copy = new URL(u.href);
  copy.username = '';
  copy.password = '';
  return copy.href;
}
