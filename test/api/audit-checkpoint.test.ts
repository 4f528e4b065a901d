import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { startApi } from '@portal-failover/api';
import { AuditLog, AuditWitnessing, canonicalJson, createMetrics, keys, publicKeyBase64, sha256Hex, type AuditCheckpoint } from '@portal-failover/shared';
import { runCli } from '../support/cli';
import { portalFixture, testLogger, type PortalFixture } from '../support/e2e';
import { sharedRedisUrl } from '../support/redis-server';
import { apiConfig, bearer, TOKENS } from './support';

/**
 * `portal-failover audit verify --checkpoint FILE` on a real API and Redis: a whole-chain rewrite with every hash
 * recomputed passes plain `verify` but not `verify --checkpoint` against a checkpoint a file witness kept; an
 * untouched chain passes; a checkpoint altered to fit the rewrite fails its signature.
 */
jest.setTimeout(60_000);

let fx: PortalFixture;
let redis: Redis;
let api: Awaited<ReturnType<typeof startApi>>;
let auditKey: string;
const dir = mkdtempSync(join(tmpdir(), 'audit-checkpoint-'));
const witnessFile = join(dir, 'checkpoints.jsonl');
const keys_ = generateKeyPairSync('ed25519');
const publicKey = publicKeyBase64(keys_.publicKey);

function cli(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return runCli(args, { ...process.env, PORTAL_FAILOVER_URL: api.url, PORTAL_FAILOVER_TOKEN: TOKENS.viewer });
}

/** Rewrites every entry from #`from` on (a reason changed in the first), recomputing each hash and the head, as a forger with Redis access would. */
async function rewriteChain(from: number): Promise<void> {
  const entries = await redis.xrange(auditKey, '-', '+');
  let prevHash: string | undefined;
  const out: [string, string, string][] = [];
  for (const [id, f] of entries) {
    const body = JSON.parse(f[f.indexOf('e') + 1]) as { seq: number; prevHash: string; reason?: string };
    if (body.seq === from) body.reason = 'nothing happened';
    if (body.seq >= from && prevHash !== undefined) body.prevHash = prevHash;
    const e = canonicalJson(body);
    const h = body.seq >= from ? sha256Hex(e) : f[f.indexOf('h') + 1];
    out.push([id, e, h]);
    prevHash = h;
  }
  await redis.del(auditKey);
  for (const [id, e, h] of out) await redis.xadd(auditKey, id, 'e', e, 'h', h);
  const last = out[out.length - 1];
  await redis.hset(`${auditKey}:head`, 'hash', last[2], 'seq', String(out.length), 'id', last[0]);
}

beforeAll(async () => {
  fx = await portalFixture('audit-checkpoint');
  const config = apiConfig([fx]);
  auditKey = keys(config.redis.prefix).audit;
  redis = new Redis(sharedRedisUrl());
  api = await startApi({ config, redis, metrics: createMetrics(undefined, { defaultMetrics: false }), logger: testLogger() });
  const headers = { authorization: bearer('operator'), 'content-type': 'application/json' };
  for (let i = 0; i < 3; i++) {
    expect((await fetch(`${api.url}/api/v1/portals/${fx.id}/freeze`, { method: 'POST', headers, body: JSON.stringify({ reason: `drill ${i}` }) })).status).toBe(200);
    expect((await fetch(`${api.url}/api/v1/portals/${fx.id}/freeze`, { method: 'DELETE', headers, body: JSON.stringify({ reason: `done ${i}` }) })).status).toBe(200);
  }
  // The leader's signer, delivering to a file witness, over the same chain.
  const log = new AuditLog(redis, auditKey, 86_400_000);
  const failures: string[] = [];
  const signer = new AuditWitnessing({ key: keys_.privateKey, witnesses: [{ kind: 'file', path: witnessFile }], head: () => log.head(), failed: (w) => failures.push(w), warn: () => undefined, now: Date.now }, 60_000);
  expect(await signer.maybeCheckpoint()).toMatchObject({ count: 6 });
  await signer.settle();
  expect(failures).toEqual([]);
});

afterAll(async () => {
  await api?.stop();
  redis?.disconnect();
  await Promise.all([fx?.primary.close(), fx?.standby.close()]);
});

it('an untouched chain passes against the witness checkpoint; a whole-chain rewrite passes plain verify but not --checkpoint', async () => {
  const good = await cli(['audit', 'verify', '--checkpoint', witnessFile, '--public-key', publicKey]);
  expect(good).toMatchObject({ code: 0, err: '' });
  expect(good.out).toMatch(/^6 entries, chain intact, head [0-9a-f]{64}; checkpoint: entry #6 matches the witness's hash\n$/);

  await rewriteChain(2);
  const plain = await cli(['audit', 'verify']);
  expect(plain.code).toBe(0);
  expect(plain.out).toMatch(/^6 entries, chain intact/);

  const caught = await cli(['audit', 'verify', '--checkpoint', witnessFile, '--public-key', publicKey]);
  expect(caught.code).toBe(1);
  expect(caught.out).toMatch(/checkpoint: entry #6 has hash [0-9a-f]{64}, the witness holds [0-9a-f]{64}: the chain was rewritten/);

  // Without --public-key the carried key is used, with a note saying so; the rewrite is caught all the same.
  const carried = await cli(['audit', 'verify', '--checkpoint', witnessFile]);
  expect(carried.code).toBe(1);
  expect(carried.err).toContain('pass --public-key');
});

it('a checkpoint altered to fit a rewritten chain, or signed by another key, fails its signature', async () => {
  const cp = JSON.parse(readFileSync(witnessFile, 'utf8').trim().split('\n').pop()!) as AuditCheckpoint;
  const head = await redis.hgetall(`${auditKey}:head`);
  const altered = join(dir, 'altered.json');
  writeFileSync(altered, JSON.stringify({ ...cp, hash: head.hash }));
  const r = await cli(['audit', 'verify', '--checkpoint', altered, '--public-key', publicKey]);
  expect(r.code).toBe(1);
  expect(r.out).toBe(`checkpoint REJECTED: ${altered}: the checkpoint signature does not verify: the checkpoint was altered or forged\n`);

  const other = publicKeyBase64(generateKeyPairSync('ed25519').publicKey);
  const wrongKey = await cli(['audit', 'verify', '--checkpoint', witnessFile, '--public-key', other]);
  expect(wrongKey.code).toBe(1);
  expect(wrongKey.out).toContain('signed by a different key than the one given');

  const json = await cli(['audit', 'verify', '--checkpoint', altered, '-o', 'json']);
  expect(json.code).toBe(1);
  expect(JSON.parse(json.out)).toMatchObject({ ok: false, checkpoint: { ok: false } });
});

it('refuses a checkpoint file that is not one, naming the file and the reason', async () => {
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, '{"hash":"x"}');
  const r = await cli(['audit', 'verify', '--checkpoint', bad]);
  expect(r.code).toBe(2);
  expect(r.err).toContain(`--checkpoint: ${bad} lacks the field id`);
  const missing = await cli(['audit', 'verify', '--checkpoint', join(dir, 'nope.json')]);
  expect(missing.code).toBe(2);
  expect(missing.err).toContain('(ENOENT)');
});
