import { CLI, runCli } from '../support/cli';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createToken } from '@portal-failover/api';
import { createMetrics, parseConfig, type Operation } from '@portal-failover/shared';
import { startAllInOne, type AllInOne } from '../../cli/src/all-in-one';
import { SUSPENDED_PAGE } from '../../cli/src/demo/sim-site';
import { waitFor } from '../support/free-port';
import { e2eRawConfig, portalFixture, testLogger, type PortalFixture } from '../support/e2e';

/**
 * A provider cuts the primary with a 200 "suspended" page; the real stack fails over on real PowerDNS; the
 * operation's evidence bundle, exported with the CLI, holds the checker's capture of that page and verifies,
 * and editing any file makes `evidence verify` fail.
 */
jest.setTimeout(120_000);

const viewer = createToken('evidence-reader', 'viewer');
let fx: PortalFixture;
let app: AllInOne;
let dir: string;

function cli(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const env = { ...process.env, PORTAL_FAILOVER_URL: app.apiUrl, PORTAL_FAILOVER_TOKEN: viewer.token };
  return runCli(args, env);
}

beforeAll(async () => {
  fx = await portalFixture('evidence');
  const raw = e2eRawConfig([fx]);
  raw.api = { listen: '127.0.0.1:0', tokens: [viewer.record] };
  const { REDIS_URL: _ignored, ...env } = process.env;
  app = await startAllInOne(parseConfig(raw, 'evidence-test', env), testLogger(), createMetrics(undefined, { defaultMetrics: false }));
  await waitFor(() => app.controller.state(fx.id)?.phase === 'healthy', { timeoutMs: 20_000, what: 'portal healthy' });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-evidence-'));
});

afterAll(async () => {
  await app?.stop();
  await Promise.all([fx?.primary.close(), fx?.standby.close()]);
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

it('a cut by a 200 "suspended" page leaves a bundle with the capture of that page, which verifies until edited', async () => {
  const finished = new Promise<Operation>((resolve) => app.controller.on('operation', (op) => op.portal === fx.id && resolve(op)));
  await fx.primary.setMode({ kind: 'suspended' });
  const op = await finished;
  expect(op.status).toBe('succeeded');
  expect(await fx.answer()).toEqual([fx.standbyAddress]);

  const out = path.join(dir, 'bundle');
  // The checker stores its capture beside the probe; give it the moment it takes.
  await waitFor(async () => {
    fs.rmSync(out, { recursive: true, force: true });
    const r = await cli(['evidence', 'export', op.id, '--out', out]);
    if (r.code !== 0) throw new Error(r.err);
    return fs.existsSync(path.join(out, 'captures')) && fs.readdirSync(path.join(out, 'captures')).length > 0;
  }, { timeoutMs: 15_000, what: 'a bundle with a capture' });

  const captures = fs.readdirSync(path.join(out, 'captures'));
  const capture = JSON.parse(fs.readFileSync(path.join(out, 'captures', captures[0]), 'utf8')) as { site: string; status: number; body: string; headers: Record<string, string>; probe: { reason?: string } };
  expect(capture).toMatchObject({ site: 'primary', status: 200, probe: { reason: 'content' }, from: 'probe' });
  expect(capture.body).toBe(SUSPENDED_PAGE);
  expect(capture.body).toContain('This account has been suspended');
  expect(capture.headers['content-type']).toContain('text/html');

  expect(fs.readFileSync(path.join(out, 'decision.txt'), 'utf8')).toContain(op.reason);
  const probes = JSON.parse(fs.readFileSync(path.join(out, 'probes.json'), 'utf8')) as { results: { site: string; ok: boolean; reason?: string; vantage: string }[] };
  expect(probes.results.some((p) => p.site === 'primary' && !p.ok && p.reason === 'content' && p.vantage === 'v1')).toBe(true);
  expect(probes.results.some((p) => p.site === 'primary' && p.ok)).toBe(true);
  const timings = JSON.parse(fs.readFileSync(path.join(out, 'timings.json'), 'utf8')) as { steps: { provider: string; status: string; ms: number }[]; detectMs: number };
  expect(timings.steps[0]).toMatchObject({ status: 'verified' });
  const audit = JSON.parse(fs.readFileSync(path.join(out, 'audit.json'), 'utf8')) as { type: string; hash: string }[];
  expect(audit.map((e) => e.type)).toEqual(expect.arrayContaining(['operation.started', 'operation.finished']));
  for (const e of audit) expect(e.hash).toMatch(/^[0-9a-f]{64}$/);
  const manifest = JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8')) as { chainHead: { hash: string }; files: { name: string }[] };
  expect(manifest.chainHead.hash).toMatch(/^[0-9a-f]{64}$/);
  expect(manifest.files.map((f) => f.name)).toEqual(expect.arrayContaining(['decision.txt', 'probes.json', 'timings.json', 'actors.json', 'audit.json', `captures/${captures[0]}`]));

  const good = await cli(['evidence', 'verify', out]);
  expect(good.code).toBe(0);
  expect(good.out).toContain('files match manifest.json');

  fs.appendFileSync(path.join(out, 'captures', captures[0]), ' ');
  const bad = await cli(['evidence', 'verify', out]);
  expect(bad.code).toBe(1);
  expect(bad.out).toContain(`captures/${captures[0]}: changed`);
});
