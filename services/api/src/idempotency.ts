import { createHash } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Redis } from 'ioredis';
import { callerOf } from './auth';
import { sendProblem } from './problem';

export const IDEMPOTENCY_HEADER = 'Idempotency-Key';
/** How long an answer is kept for a retry with the same key (the IETF httpapi draft's usual 24 hours). */
export const IDEMPOTENCY_TTL_SECONDS = 24 * 3600;

/** What is kept per key: a request still running, or the answer it got. */
type Stored =
  | { state: 'pending'; fingerprint: string }
  | { state: 'done'; fingerprint: string; status: number; contentType?: string; location?: string; body: string };

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

function parseStored(raw: string | null): Stored | undefined {
  if (!raw) return undefined;
  try {
    const v = JSON.parse(raw) as Stored;
    return v && typeof v.fingerprint === 'string' && (v.state === 'pending' || v.state === 'done') ? v : undefined;
  } catch {
    return undefined;
  }
}

/**
 * `Idempotency-Key` on a POST (draft-ietf-httpapi-idempotency-key-header): a client that retries after a timeout
 * sends the same key and gets the first answer again instead of a 409 it cannot tell from someone else's.
 * - same key, same body, first request finished with 2xx: that answer again (status, Location, body), with
 *   `Idempotent-Replayed: true`, for 24 hours;
 * - same key, other body: 422; same key while the first request is still running: 409;
 * - a first request that ended in an error keeps nothing, so the client may fix the cause and retry with the key.
 * Keys are scoped by token name, method and path: two callers never see each other's answers.
 */
export function idempotency(redis: Redis, prefix: string, ttlSeconds = IDEMPOTENCY_TTL_SECONDS): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const key = req.header(IDEMPOTENCY_HEADER);
    if (key === undefined) return next();
    if (!/^[\x21-\x7e]{1,255}$/.test(key)) {
      return sendProblem(res, 400, 'invalid header', { problems: [{ path: IDEMPOTENCY_HEADER, message: 'must be 1 to 255 visible ASCII characters (a UUID is a good choice)' }] });
    }
    const caller = callerOf(res)?.name ?? '(anonymous)';
    const storeKey = `${prefix}:idempotency:${sha256(`${caller}\n${req.method} ${req.path}\n${key}`)}`;
    const fingerprint = sha256(JSON.stringify(req.body ?? null));
    void (async () => {
      const pending: Stored = { state: 'pending', fingerprint };
      const claimed = await redis.set(storeKey, JSON.stringify(pending), 'EX', ttlSeconds, 'NX');
      if (claimed !== 'OK') {
        const seen = parseStored(await redis.get(storeKey));
        if (seen && seen.fingerprint !== fingerprint) {
          return sendProblem(res, 422, `${IDEMPOTENCY_HEADER} "${key}" was already used with a different request body; use a new key for a new request`, { problems: [{ path: IDEMPOTENCY_HEADER, message: 'already used with a different body' }] });
        }
        if (!seen || seen.state === 'pending') {
          return sendProblem(res, 409, `a request with ${IDEMPOTENCY_HEADER} "${key}" is still being processed; retry in a moment`);
        }
        res.status(seen.status).setHeader('Idempotent-Replayed', 'true');
        if (seen.location) res.location(seen.location);
        if (seen.contentType) res.type(seen.contentType);
        return void res.send(seen.body);
      }
      const send = res.json.bind(res);
      res.json = ((body: unknown) => {
        const status = res.statusCode;
        const keep =
          status >= 200 && status < 300
            ? redis.set(storeKey, JSON.stringify({ state: 'done', fingerprint, status, contentType: res.get('content-type') ?? 'application/json; charset=utf-8', location: res.get('location'), body: JSON.stringify(body) } satisfies Stored), 'EX', ttlSeconds)
            : redis.del(storeKey);
        // The answer goes out only once it is kept, so a retry right after it sees the answer, not "in progress".
        void keep.catch(() => undefined).then(() => send(body));
        return res;
      }) as Response['json'];
      next();
    })().catch(next);
  };
}
