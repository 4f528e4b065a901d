import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { AuditLog, type AuditEntry } from './audit-log';
import { canonicalJson, GENESIS, sha256Hex } from './chain';
import { sharedRedisUrl } from '../../../test/support/redis-server';

/** The hash chain on a real Redis: every kind of tampering is named at the entry where it happened. */
let redis: Redis;
beforeAll(() => (redis = new Redis(sharedRedisUrl())));
afterAll(() => redis.disconnect());

const key = () => `audit-chain-test-${randomBytes(4).toString('hex')}`;

async function chainOf(n: number, opts: { retentionMs?: number; maxEntries?: number; gapMs?: number } = {}): Promise<{ log: AuditLog; k: string; ids: string[] }> {
  const k = key();
  const log = new AuditLog(redis, k, opts.retentionMs ?? 86_400_000, Date.now, { maxEntries: opts.maxEntries });
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    ids.push(await log.append({ type: 'freeze', portal: 'p', actor: `u${i}`, reason: `r${i}` }));
    if (opts.gapMs) await new Promise((r) => setTimeout(r, opts.gapMs));
  }
  return { log, k, ids };
}

/** Rewrites the stream with `change` applied to its entries (Redis streams cannot be edited in place). */
async function rewrite(k: string, change: (entries: [string, string[]][]) => [string, string[]][]): Promise<void> {
  const entries = change(await redis.xrange(k, '-', '+'));
  await redis.del(k);
  for (const [id, fields] of entries) await redis.xadd(k, id, ...fields);
}

describe('audit hash chain', () => {
  it('links every entry to the one before with SHA-256 of its canonical JSON', async () => {
    const { log, k } = await chainOf(3);
    const raw = await redis.xrange(k, '-', '+');
    let prev = GENESIS;
    raw.forEach(([, f], i) => {
      const e = f[f.indexOf('e') + 1];
      const body = JSON.parse(e) as { seq: number; prevHash: string };
      expect(e).toBe(canonicalJson(body));
      expect(body).toMatchObject({ seq: i + 1, prevHash: prev });
      expect(f[f.indexOf('h') + 1]).toBe(sha256Hex(e));
      prev = sha256Hex(e);
    });
    const r = await log.verify();
    expect(r).toMatchObject({ ok: true, entries: 3 });
    expect(r.message).toBe(`3 entries, chain intact, head ${prev}`);
    expect((await log.query({})).entries.map((e) => e.hash)).toEqual(raw.map(([, f]) => f[f.indexOf('h') + 1]));
  });

  it('stays one line under concurrent writers', async () => {
    const k = key();
    const writers = Array.from({ length: 4 }, () => new AuditLog(redis, k, 86_400_000));
    await Promise.all(writers.map((w, i) => Promise.all(Array.from({ length: 15 }, (_, j) => w.append({ type: 'ack', actor: `w${i}-${j}` })))));
    const r = await writers[0].verify();
    expect(r).toMatchObject({ ok: true, entries: 60 });
    expect(r.head?.seq).toBe(60);
  });

  it('takes a burst of appends from one writer in call order, all of them (a new leader recording thousands of portals at once)', async () => {
    const k = key();
    const log = new AuditLog(redis, k, 86_400_000);
    const other = new AuditLog(redis, k, 86_400_000);
    // 2,500 at once from one process, with a second process appending in between: before appends were queued, each
    // raced its own siblings for the head and most gave up after 100 attempts.
    const ids = await Promise.all([
      ...Array.from({ length: 2500 }, (_, i) => log.append({ type: 'routing.unknown', portal: `p${i}`, actor: 'c' })),
      ...Array.from({ length: 5 }, (_, i) => other.append({ type: 'ack', actor: `o${i}` })),
    ]);
    expect(new Set(ids).size).toBe(2505);
    const r = await log.verify();
    expect(r).toMatchObject({ ok: true, entries: 2505 });
    const entries: AuditEntry[] = [];
    for (let after: string | undefined, page = 0; page === 0 || after; page++) {
      const q = await log.query({ type: 'routing.unknown', limit: 1000, after });
      entries.push(...q.entries);
      after = q.next;
    }
    expect(entries.map((e) => e.portal)).toEqual(Array.from({ length: 2500 }, (_, i) => `p${i}`));
    expect(entries.map((e) => e.id)).toEqual(ids.slice(0, 2500));
  });

  it('names the entry that was edited in Redis', async () => {
    const { log, k, ids } = await chainOf(6);
    await rewrite(k, (es) => es.map(([id, f]) => (id === ids[2] ? [id, f.map((v) => v.replace('"reason":"r2"', '"reason":"nothing happened"'))] : [id, f])));
    const r = await log.verify();
    expect(r.ok).toBe(false);
    expect(r.broken).toMatchObject({ id: ids[2], seq: 3 });
    expect(r.message).toMatch(new RegExp(`entry ${ids[2]} \\(#3\\) was edited`));
  });

  it('names the entry after a re-hashed edit (the forger recomputed the hash)', async () => {
    const { log, k, ids } = await chainOf(6);
    await rewrite(k, (es) =>
      es.map(([id, f]) => {
        if (id !== ids[2]) return [id, f];
        const e = f[f.indexOf('e') + 1].replace('"reason":"r2"', '"reason":"x"');
        return [id, ['e', e, 'h', sha256Hex(e)]];
      }),
    );
    const r = await log.verify();
    expect(r.broken).toMatchObject({ id: ids[3], seq: 4 });
    expect(r.message).toContain('inserted or replaced');
  });

  it('names the entry after a deleted one', async () => {
    const { log, k, ids } = await chainOf(6);
    await redis.xdel(k, ids[3]);
    const r = await log.verify();
    expect(r.ok).toBe(false);
    expect(r.broken).toMatchObject({ id: ids[4], seq: 5 });
    expect(r.message).toContain(`1 entry between ${ids[2]} (#3) and it is missing (deleted)`);
  });

  it('names the entry after an inserted one, even when the inserted one is well formed', async () => {
    // Entries a few ms apart, so there is a free stream id between two of them to insert at.
    const { log, k, ids } = await chainOf(6, { gapMs: 3 });
    await rewrite(k, (es) => {
      const at = es.findIndex(([id]) => id === ids[2]);
      const prev = es[at][1];
      const prevBody = JSON.parse(prev[prev.indexOf('e') + 1]) as { seq: number };
      const forged = canonicalJson({ type: 'ack', actor: 'mallory', at: new Date().toISOString(), seq: prevBody.seq + 1, prevHash: prev[prev.indexOf('h') + 1] });
      const [ms, sq] = ids[2].split('-').map(Number);
      return [...es.slice(0, at + 1), [`${ms}-${sq + 1}`, ['e', forged, 'h', sha256Hex(forged)]], ...es.slice(at + 1)];
    });
    const r = await log.verify();
    expect(r.ok).toBe(false);
    expect(r.broken?.id).toBe(ids[3]);
  });

  it('names the oldest entry when the stream was trimmed without a checkpoint', async () => {
    const { log, k, ids } = await chainOf(6);
    await redis.xtrim(k, 'MINID', ids[2]);
    const r = await log.verify();
    expect(r.ok).toBe(false);
    expect(r.broken).toMatchObject({ id: ids[2], seq: 3 });
    expect(r.message).toContain('trimmed or cut without a checkpoint');
  });

  it('notices the newest entries removed, and an entry appended outside the chain', async () => {
    const a = await chainOf(4);
    await redis.xdel(a.k, a.ids[3]);
    expect((await a.log.verify()).message).toContain('the newest entries were removed');
    const b = await chainOf(4);
    await redis.xadd(b.k, '*', 'e', '{"type":"ack"}');
    expect((await b.log.verify()).message).toContain('has no hash');
  });

  it('a size-capped chain trims with a checkpoint and still verifies', async () => {
    const { log, k } = await chainOf(130, { maxEntries: 100 });
    expect(await redis.xlen(k)).toBeLessThanOrEqual(100);
    const cps = (await log.query({ type: 'audit.checkpoint', limit: 1000 })).entries;
    expect(cps.length).toBeGreaterThanOrEqual(1);
    const r = await log.verify();
    expect(r.ok).toBe(true);
    expect(r.head?.seq).toBeGreaterThan(130);
  });

  it('an age-trimmed chain keeps a checkpoint naming the trimmed head', async () => {
    const { log, k, ids } = await chainOf(5, { retentionMs: 3_600_000 });
    const removed = await redis.xrange(k, ids[2], ids[2]);
    await log.trimThrough(ids[2], 'age');
    expect(await redis.xlen(k)).toBe(3); // two kept + the checkpoint
    const cp = (await log.query({ type: 'audit.checkpoint' })).entries[0];
    expect(cp.data).toEqual({ trimmedThrough: { id: ids[2], seq: 3, hash: removed[0][1][removed[0][1].indexOf('h') + 1] } });
    expect((await log.verify()).ok).toBe(true);
    // Cutting more without a checkpoint is still caught.
    await redis.xtrim(k, 'MINID', ids[4]);
    expect((await log.verify()).broken?.id).toBe(ids[4]);
  });

  it('compares with a witness checkpoint: a rewritten chain fails, the real one passes', async () => {
    const { log } = await chainOf(5);
    const third = (await log.query({})).entries[2];
    expect((await log.verify({ seq: 3, hash: third.hash! })).ok).toBe(true);
    // Rewrite the whole chain consistently from #3 on: links verify, but the witness still holds the old #3.
    const forger = new AuditLog(redis, key(), 86_400_000);
    for (let i = 0; i < 5; i++) await forger.append({ type: 'freeze', portal: 'p', actor: `u${i}`, reason: i === 2 ? 'rewritten' : `r${i}` });
    const rewritten = await forger.verify({ seq: 3, hash: third.hash! });
    expect(rewritten.ok).toBe(false);
    expect(rewritten.checkpoint?.detail).toContain('the chain was rewritten');
  });

  it('compares a witness entry that was trimmed with the trimming checkpoint that carries it, and fails one nothing carries', async () => {
    const { log, ids } = await chainOf(6, { retentionMs: 3_600_000 });
    const all = (await log.query({})).entries;
    await log.trimThrough(ids[2], 'age');
    expect((await log.verify({ seq: 3, hash: all[2].hash! })).checkpoint).toEqual({ ok: true, detail: "entry #3 was trimmed; the trimming checkpoint carries the witness's hash" });
    const forged = await log.verify({ seq: 3, hash: 'f'.repeat(64) });
    expect(forged.ok).toBe(false);
    expect(forged.checkpoint?.detail).toContain('the chain was rewritten');
    const gone = await log.verify({ seq: 2, hash: all[1].hash! });
    expect(gone.ok).toBe(false);
    expect(gone.checkpoint?.detail).toBe('entry #2 is no longer in the chain and no trimming checkpoint carries it: it cannot be compared; verify against a newer checkpoint');
  });
});
