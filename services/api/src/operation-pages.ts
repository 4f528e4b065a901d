import type { Redis } from 'ioredis';
import { keys, parseOperation, type Operation } from '@portal-failover/shared';
import { HttpError } from './http-errors';

function parseStored(raw: string): Operation | undefined {
  try {
    const r = parseOperation(JSON.parse(raw));
    return r.ok ? r.value : undefined;
  } catch {
    return undefined;
  }
}

/** A position in a portal's operations, newest first: the last operation of the previous page. */
interface Position {
  decidedAt: number;
  id: string;
}

/** Opaque to clients: `next` of one page is `cursor` of the following one. */
export function encodeCursor(p: Position): string {
  return Buffer.from(`${p.decidedAt}:${p.id}`).toString('base64url');
}

function decodeCursor(cursor: string): Position {
  const m = /^(\d{1,16}):([a-z0-9_.-]{1,200})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!m) throw new HttpError(400, 'invalid query', [{ path: 'cursor', message: 'must be the `next` value of a previous page' }]);
  return { decidedAt: Number(m[1]), id: m[2] };
}

/**
 * One page of a portal's operations, newest first. The index is a sorted set scored by decision time, so a page
 * boundary is a (score, id) pair rather than an offset: operations started while someone pages through the list
 * neither repeat nor disappear. Redis orders equal scores by member in reverse, which is the tie-break here too.
 */
export async function operationsPage(redis: Redis, prefix: string, portal: string, limit: number, cursor?: string): Promise<{ operations: Operation[]; next?: string }> {
  const k = keys(prefix);
  const index = k.portalOperations(portal);
  const at = cursor === undefined ? undefined : decodeCursor(cursor);
  // Operations decided in the same millisecond as the cursor's: those at or before it in this order are skipped.
  const sameScore = at ? await redis.zcount(index, at.decidedAt, at.decidedAt) : 0;
  const raw = await redis.zrevrangebyscore(index, at ? at.decidedAt : '+inf', '-inf', 'WITHSCORES', 'LIMIT', 0, limit + 1 + sameScore);
  const entries: Position[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const p = { id: raw[i], decidedAt: Number(raw[i + 1]) };
    if (at && p.decidedAt === at.decidedAt && p.id >= at.id) continue;
    entries.push(p);
  }
  const page = entries.slice(0, limit);
  const raws = page.length ? await redis.mget(page.map((e) => k.operation(e.id))) : [];
  // A record that does not parse is left out of the page (the store's own reads report it).
  const operations = raws.map((r) => (r === null ? undefined : parseStored(r))).filter((o): o is Operation => o !== undefined);
  const last = page[page.length - 1];
  return { operations, ...(entries.length > limit && last ? { next: encodeCursor(last) } : {}) };
}
