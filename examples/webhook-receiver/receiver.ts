/**
 * Example receiver for the portal-failover `webhook` traffic provider, written as docs/providers.md asks receivers
 * to: it refuses a switch from a stale leader by itself.
 *
 * Every POST carries `{portal, from?, to, routing, operationId?, fence, at}` signed with
 * `X-Portal-Failover-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes>`. `fence` is the controller's
 * fencing token, new and higher on every leadership; a controller that paused after losing its lease still holds the
 * old one. So the receiver keeps the highest fence it has accepted per portal (on disk: it must survive a restart)
 * and refuses a lower one with 409, without applying it. An equal fence is the same leader (a retry, or the next
 * step of the same operation) and is accepted.
 *
 * Checks, in order: signature (401, constant-time compare), JSON shape (400), `at` not older than `maxAgeMs` nor
 * further ahead than `maxSkewMs` (401: a captured request cannot be replayed later), fence (409). GET answers
 * `{"site": "<active site>"}` for the provider's verifyUrl.
 *
 * Run it: `WEBHOOK_SECRET=... node receiver.js --port 9000 --state ./fences.json` (after compiling), or import
 * startReceiver. Node's standard library only.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';

export interface ReceiverOptions {
  secret: string;
  /** Where the highest accepted fence per portal and the active site are kept; read at start. */
  stateFile: string;
  port?: number;
  host?: string;
  maxAgeMs?: number;
  maxSkewMs?: number;
  /** What the receiver does with an accepted switch (reconfigure a load balancer, a CDN...). */
  apply?: (portal: string, to: string, routing: Record<string, unknown>) => Promise<void> | void;
}

interface State {
  portals: Record<string, { fence: number; site: string; operationId?: string }>;
}

export interface Receiver {
  url: string;
  /** The current state (highest fence and site per portal). */
  state(): State;
  close(): Promise<void>;
}

function readState(file: string): State {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as State;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { portals: {} };
    throw e;
  }
}

/** Written to a temp file and renamed: a crash mid-write never leaves a lower fence behind. */
function writeState(file: string, state: State): void {
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(state));
  fs.renameSync(tmp, file);
}

function signatureOk(body: Buffer, header: string | undefined, secret: string): boolean {
  const want = Buffer.from(`sha256=${createHmac('sha256', secret).update(body).digest('hex')}`);
  const got = Buffer.from(header ?? '');
  return got.length === want.length && timingSafeEqual(got, want);
}

export async function startReceiver(opts: ReceiverOptions): Promise<Receiver> {
  const maxAgeMs = opts.maxAgeMs ?? 5 * 60_000;
  const maxSkewMs = opts.maxSkewMs ?? 30_000;
  let state = readState(opts.stateFile);
  // One switch at a time: the fence check and the apply must not interleave with another request's.
  let queue: Promise<unknown> = Promise.resolve();

  const answer = (res: http.ServerResponse, status: number, body: Record<string, unknown>) => {
    res.writeHead(status, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(body));
  };

  const handlePost = async (raw: Buffer, req: http.IncomingMessage, res: http.ServerResponse) => {
    if (!signatureOk(raw, req.headers['x-portal-failover-signature'] as string | undefined, opts.secret)) return answer(res, 401, { error: 'bad signature' });
    let msg: { portal?: unknown; to?: unknown; fence?: unknown; at?: unknown; routing?: unknown; operationId?: unknown };
    try {
      msg = JSON.parse(raw.toString('utf8')) as typeof msg;
    } catch {
      return answer(res, 400, { error: 'body is not JSON' });
    }
    if (typeof msg.portal !== 'string' || typeof msg.to !== 'string' || typeof msg.at !== 'string' || typeof msg.fence !== 'number' || !Number.isSafeInteger(msg.fence)) {
      return answer(res, 400, { error: 'expected portal, to, at (strings) and fence (integer)' });
    }
    const at = Date.parse(msg.at);
    const now = Date.now();
    if (Number.isNaN(at) || now - at > maxAgeMs || at - now > maxSkewMs) return answer(res, 401, { error: 'at is too old or in the future: a replay, or a clock to fix' });
    const known = state.portals[msg.portal];
    if (known && msg.fence < known.fence) {
      return answer(res, 409, { error: `stale fence ${msg.fence}: a switch with fence ${known.fence} was already accepted`, fence: known.fence, site: known.site });
    }
    await opts.apply?.(msg.portal, msg.to, (msg.routing ?? {}) as Record<string, unknown>);
    state = { portals: { ...state.portals, [msg.portal]: { fence: msg.fence, site: msg.to, ...(typeof msg.operationId === 'string' ? { operationId: msg.operationId } : {}) } } };
    writeState(opts.stateFile, state);
    return answer(res, 200, { applied: true, site: msg.to, fence: msg.fence });
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > 64 * 1024) req.destroy();
      else chunks.push(c);
    });
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://receiver');
      if (req.method === 'GET') {
        const portal = url.searchParams.get('portal') ?? Object.keys(state.portals)[0];
        const site = portal ? state.portals[portal]?.site : undefined;
        return site ? answer(res, 200, { site }) : answer(res, 404, { error: 'no switch received for this portal yet' });
      }
      if (req.method !== 'POST') return answer(res, 405, { error: 'POST a switch or GET the state' });
      queue = queue.then(() => handlePost(Buffer.concat(chunks), req, res)).catch(() => answer(res, 500, { error: 'could not apply' }));
    });
  });
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', resolve));
  const addr = server.address() as { port: number };
  return {
    url: `http://${opts.host ?? '127.0.0.1'}:${addr.port}`,
    state: () => state,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

if (require.main === module) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const secret = process.env.WEBHOOK_SECRET;
  if (!secret) {
    process.stderr.write('WEBHOOK_SECRET must be set (the webhook step\'s secret)\n');
    process.exit(2);
  }
  void startReceiver({ secret, stateFile: arg('state') ?? 'fences.json', port: Number(arg('port') ?? 9000), host: arg('host') ?? '127.0.0.1' }).then((r) =>
    process.stdout.write(`receiver listening on ${r.url}\n`),
  );
}
