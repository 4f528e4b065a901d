import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { checkpointSignatureProblem, createMetrics, parseCheckpoint, parseConfig } from '@portal-failover/shared';
import { createToken } from '@portal-failover/api';
import { startAllInOne, type AllInOne } from '../../cli/src/all-in-one';
import { runCli } from '../support/cli';
import { waitFor } from '../support/free-port';
import { sharedPowerDns } from '../support/powerdns-server';
import { writeConfigFile } from '../support/processes';
import { e2eRawConfig, portalFixture, testLogger, type PortalFixture } from '../support/e2e';

/**
 * Against a real running stack (controller, checker and API on real Redis and PowerDNS, after a real failover):
 * `portal-failover status-page export DIR` (the built CLI) writes index.html, vi/, en/ and status.json that say what
 * the API serves, with no address or token inside. The same stack signs audit checkpoints for a file witness, so
 * the leader's checkpoint timer is checked end to end too.
 */
jest.setTimeout(120_000);

let fx: PortalFixture;
let app: AllInOne;
let configFile: string;
let env: NodeJS.ProcessEnv;
const operator = createToken('ops-tran-thi-b', 'operator');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'status-export-'));
const witnessFile = path.join(work, 'witness', 'checkpoints.jsonl');
const keyFile = path.join(work, 'audit-key.pem');
const auditKeys = generateKeyPairSync('ed25519');

beforeAll(async () => {
  fx = await portalFixture('status-export');
  fs.mkdirSync(path.dirname(witnessFile));
  fs.writeFileSync(keyFile, auditKeys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), { mode: 0o600 });
  const raw = e2eRawConfig([fx]);
  raw.api = { listen: '127.0.0.1:0', tokens: [operator.record] };
  raw.statusPage = { title: 'Tình trạng dịch vụ công', timeZone: 'Asia/Ho_Chi_Minh' };
  raw.audit = { signingKey: `file:${keyFile}`, witnesses: [`file:${witnessFile}`], checkpointEvery: '10s' };
  configFile = writeConfigFile(raw);
  const { REDIS_URL: _ignored, ...rest } = process.env;
  env = rest;
  app = await startAllInOne(parseConfig(raw, configFile, env), testLogger(), createMetrics(undefined, { defaultMetrics: false }));
  await waitFor(() => app.controller.state(fx.id)?.phase === 'healthy', { timeoutMs: 20_000, what: 'portal healthy' });
  // A real failover, so the page has a standby provider and an incident to show.
  await fx.primary.setMode({ kind: 'suspended' });
  await waitFor(async () => (await fx.answer())[0] === fx.standbyAddress, { timeoutMs: 30_000, what: 'DNS answer on the standby' });
  await waitFor(async () => ((await (await fetch(`${app.apiUrl}/status.json`)).json()) as { portals: { provider: string }[] }).portals[0]?.provider === 'hosting-b', { timeoutMs: 20_000, what: 'status.json on hosting-b' });
});

afterAll(async () => {
  await app?.stop();
  await Promise.all([fx?.primary.close(), fx?.standby.close()].filter(Boolean));
});

/** What may differ between a served page and an exported one: the language links' form and the build time. */
function comparable(html: string): string {
  return html
    .replace(/href="(?:\?lang=|(?:\.\.\/)?)(vi|en)(?:\/index\.html)?"/g, 'href="LANG:$1"')
    .replace(/<footer>[\s\S]*?<\/footer>/, '<footer/>');
}

function withoutBuildTime(json: string): unknown {
  const doc = JSON.parse(json) as Record<string, unknown>;
  delete doc.generatedAt;
  return doc;
}

async function served(): Promise<Record<string, string>> {
  const get = async (p: string) => {
    const res = await fetch(`${app.apiUrl}${p}`);
    expect(res.status).toBe(200);
    return res.text();
  };
  return { 'status.json': await get('/status.json'), 'vi/index.html': await get('/status?lang=vi'), 'en/index.html': await get('/status?lang=en'), 'index.html': await get('/status') };
}

it('status-page export DIR writes the page in both languages and the JSON the API serves, with nothing internal', async () => {
  const dir = path.join(work, 'site');
  // The API caches its page for a few seconds and availability moves with each minute's rollup, so a pair read a
  // minute boundary apart may honestly differ; three tries at an exact match.
  let exported: Record<string, string> = {};
  let api: Record<string, string> = {};
  for (let attempt = 0; attempt < 3; attempt++) {
    api = await served();
    const r = await runCli(['status-page', 'export', dir, '--config', configFile], env);
    expect({ code: r.code, err: r.err }).toEqual({ code: 0, err: '' });
    for (const f of ['index.html', 'vi/index.html', 'en/index.html', 'status.json']) expect(r.out).toContain(`wrote ${path.join(dir, f)}\n`);
    exported = Object.fromEntries(['status.json', 'vi/index.html', 'en/index.html', 'index.html'].map((f) => [f, fs.readFileSync(path.join(dir, f), 'utf8')]));
    if (JSON.stringify(withoutBuildTime(api['status.json'])) === JSON.stringify(withoutBuildTime(exported['status.json']))) break;
  }
  expect(withoutBuildTime(exported['status.json'])).toEqual(withoutBuildTime(api['status.json']));
  const doc = JSON.parse(exported['status.json']) as { generatedAt: string; portals: { id: string; state: string; provider: string; incidents: unknown[] }[] };
  expect(doc.portals).toEqual([expect.objectContaining({ id: fx.id, state: 'standby', provider: 'hosting-b' })]);
  expect(doc.portals[0].incidents.length).toBeGreaterThan(0);
  for (const f of ['vi/index.html', 'en/index.html', 'index.html']) {
    expect({ f, html: comparable(exported[f]) }).toEqual({ f, html: comparable(api[f]) });
    expect(exported[f]).toContain(`<time datetime="${doc.generatedAt}">`);
  }
  expect(exported['vi/index.html']).toContain('Đang phục vụ từ nhà cung cấp dự phòng');
  expect(exported['en/index.html']).toContain('Served from the standby provider');
  // The default language (vi) at the top, its links pointing into the language folders.
  expect(exported['index.html']).toContain('lang="vi"');
  expect(exported['index.html']).toContain('href="en/index.html"');
  expect(exported['en/index.html']).toContain('href="../vi/index.html"');

  const pdns = sharedPowerDns();
  const forbidden = [fx.primary.url, fx.standby.url, new URL(fx.primary.url).host, fx.primaryAddress, fx.standbyAddress, '127.0.0.1', fx.zone.replace(/\.$/, ''), pdns.apiUrl, pdns.apiKey, operator.token, operator.record.sha256, 'ops-tran-thi-b', 'controller:', keyFile, 'PRIVATE KEY'];
  for (const [f, text] of Object.entries(exported)) expect({ f, leaks: forbidden.filter((s) => text.includes(s)) }).toEqual({ f, leaks: [] });
});

it('the leader signs checkpoints of the audit head into the file witness, and the chain holds each one', async () => {
  await waitFor(() => fs.existsSync(witnessFile) && fs.readFileSync(witnessFile, 'utf8').trim().split('\n').length >= 1, { timeoutMs: 20_000, what: 'a checkpoint in the witness file' });
  const parsed = parseCheckpoint(fs.readFileSync(witnessFile, 'utf8'));
  if (!parsed.ok) throw new Error(`witness file ${parsed.error}`);
  expect(checkpointSignatureProblem(parsed.checkpoint, auditKeys.publicKey)).toBeUndefined();
  const res = await fetch(`${app.apiUrl}/api/v1/audit/verify?seq=${parsed.checkpoint.count}&hash=${parsed.checkpoint.hash}`, { headers: { authorization: `Bearer ${operator.token}` } });
  const r = (await res.json()) as { ok: boolean; checkpoint?: { ok: boolean; detail: string } };
  expect(r).toMatchObject({ ok: true, checkpoint: { ok: true, detail: `entry #${parsed.checkpoint.count} matches the witness's hash` } });
});
