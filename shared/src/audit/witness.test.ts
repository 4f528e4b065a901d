import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkpointSignatureProblem, parseCheckpoint, type AuditCheckpoint } from './checkpoint';
import { AuditWitnessing, witnessLabel } from './witness';

/** Deliveries to a real loopback HTTP server and a real file; a dead witness is retried, counted, and blocks nothing. */
let server: Server;
let url: string;
const received: AuditCheckpoint[] = [];
let answer = 200;
const authorizations: (string | undefined)[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      authorizations.push(req.headers.authorization);
      if (answer === 200 && req.method === 'POST' && req.headers['content-type'] === 'application/json') received.push(JSON.parse(body) as AuditCheckpoint);
      res.writeHead(answer).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/witness`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

function setup(witnesses: ConstructorParameters<typeof AuditWitnessing>[0]['witnesses'], everyMs = 60_000) {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  let now = 1_000_000;
  let seq = 1;
  const failures: string[] = [];
  const warnings: string[] = [];
  const w = new AuditWitnessing(
    {
      key: privateKey,
      witnesses,
      head: async () => ({ seq, hash: seq.toString(16).padStart(64, '0'), id: `${seq}-0` }),
      failed: (l) => failures.push(l),
      warn: (_l, m) => warnings.push(m),
      now: () => now,
      attempts: 3,
      retryDelayMs: 1,
    },
    everyMs,
  );
  return { w, publicKey, failures, warnings, advance: (ms: number) => (now += ms), next: () => seq++ };
}

beforeEach(() => {
  received.length = 0;
  answer = 200;
});

it('signs the head every checkpointEvery and delivers it to a webhook and a file', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'witness-')), 'cp.jsonl');
  const s = setup([{ kind: 'url', url }, { kind: 'file', path: file }]);
  const first = await s.w.maybeCheckpoint();
  expect(first).toMatchObject({ count: 1 });
  await s.w.settle();
  s.next();
  s.advance(30_000);
  expect(await s.w.maybeCheckpoint()).toBeUndefined(); // not due yet
  s.advance(30_000);
  const second = await s.w.maybeCheckpoint();
  expect(second).toMatchObject({ count: 2 });
  await s.w.settle();
  expect(received).toEqual([first, second]);
  const lines = readFileSync(file, 'utf8').trim().split('\n');
  expect(lines.map((l) => JSON.parse(l) as unknown)).toEqual([first, second]);
  const last = parseCheckpoint(readFileSync(file, 'utf8'));
  expect(last.ok && checkpointSignatureProblem(last.checkpoint, s.publicKey)).toBeUndefined();
  expect(s.failures).toEqual([]);
});

it('a failing witness is retried and counted by a label without the query; the others still get theirs', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'witness-')), 'cp.jsonl');
  const dead = { kind: 'url' as const, url: 'http://user:pw@127.0.0.1:1/hook?token=s3cr3t' };
  const s = setup([dead, { kind: 'file', path: file }, { kind: 'file', path: '/nonexistent-dir/cp.jsonl' }]);
  await s.w.maybeCheckpoint();
  await s.w.settle();
  expect(readFileSync(file, 'utf8').trim().split('\n')).toHaveLength(1);
  expect(s.failures.filter((l) => l === 'http://127.0.0.1:1/hook')).toHaveLength(3);
  expect(s.failures.filter((l) => l === 'file:/nonexistent-dir/cp.jsonl')).toHaveLength(3);
  expect(s.warnings.join('\n')).not.toMatch(/s3cr3t|pw@/);
  expect(s.warnings[0]).toMatch(/checkpoint #1 not delivered to witness http:\/\/127\.0\.0\.1:1\/hook \(attempt 1 of 3\)/);
});

it('counts a webhook that answers an error status', async () => {
  answer = 503;
  const s = setup([{ kind: 'url', url }]);
  await s.w.maybeCheckpoint();
  await s.w.settle();
  expect(s.failures).toEqual([witnessLabel({ kind: 'url', url }), witnessLabel({ kind: 'url', url }), witnessLabel({ kind: 'url', url })]);
  expect(s.warnings[2]).toContain('HTTP 503');
});

it('sends user info of a witness URL as Basic auth (fetch refuses it in the URL) and never logs it', async () => {
  authorizations.length = 0;
  const withUser = url.replace('http://', 'http://witness:p%40ss@');
  const s = setup([{ kind: 'url', url: withUser }]);
  await s.w.maybeCheckpoint();
  await s.w.settle();
  expect(s.failures).toEqual([]);
  expect(received).toHaveLength(1);
  expect(authorizations).toEqual([`Basic ${Buffer.from('witness:p@ss').toString('base64')}`]);
  expect(witnessLabel({ kind: 'url', url: withUser })).toBe(url);
});
