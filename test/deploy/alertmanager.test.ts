import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createMetrics, parseConfig } from '@portal-failover/shared';
import { parse, stringify } from 'yaml';
import { startAllInOne, type AllInOne } from '../../cli/src/all-in-one';
import { waitFor } from '../support/free-port';
import { e2eRawConfig, portalFixture, testLogger, type PortalFixture } from '../support/e2e';
import { arr, deployPath, obj, run, startReadyServer, str, tempDir, tool, walkStrings, type Server } from './support';

/**
 * deploy/alertmanager/alertmanager.yml: amtool accepts it, its routing tree sends what it should where, and — with the
 * real Alertmanager and the real API — an alert labelled failover_action=switchover moves a portal's traffic, the
 * bearer token read from credentials_file.
 */
jest.setTimeout(120_000);

const CONFIG = deployPath('alertmanager', 'alertmanager.yml');
const WEBHOOK = 'http://api:8080/api/v1/hooks/alertmanager';

function loadConfig(): Record<string, unknown> {
  return obj(parse(fs.readFileSync(CONFIG, 'utf8')), 'alertmanager.yml');
}

function switchoverWebhook(doc: Record<string, unknown>): Record<string, unknown> {
  const receiver = arr(doc.receivers, 'receivers')
    .map((r) => obj(r, 'receiver'))
    .find((r) => r.name === 'portal-failover-switchover');
  return obj(arr(obj(receiver, 'receiver portal-failover-switchover').webhook_configs, 'webhook_configs')[0], 'webhook_configs[0]');
}

describe('amtool', () => {
  it('accepts the config', () => {
    const r = run(tool('amtool'), ['check-config', CONFIG]);
    expect({ status: r.status, output: r.output }).toEqual({ status: 0, output: expect.stringContaining('SUCCESS') });
  });

  it.each([
    ['a switchover alert goes to the API webhook and pages people', ['alertname=FailoverExternalProbeDown', 'failover_action=switchover', 'portal=dvc', 'site=primary', 'severity=critical'], 'portal-failover-switchover,oncall-page'],
    ['a critical failover alert pages', ['alertname=FailoverBothSitesDown', 'portal=dvc', 'severity=critical'], 'oncall-page'],
    ['a warning goes to on-call by mail only', ['alertname=FailoverStandbyUnhealthy', 'portal=dvc', 'site=standby', 'severity=warning'], 'oncall'],
    ['a critical alert without failover_action never reaches the webhook', ['alertname=FailoverFailed', 'portal=dvc', 'severity=critical'], 'oncall-page'],
  ])('routes: %s', (_what, labels, receivers) => {
    const r = run(tool('amtool'), ['config', 'routes', 'test', `--config.file=${CONFIG}`, `--verify.receivers=${receivers}`, ...labels]);
    expect({ status: r.status, output: r.output }).toEqual({ status: 0, output: expect.stringContaining(receivers) });
  });
});

describe('alertmanager.yml', () => {
  const doc = loadConfig();

  it('sends switchover alerts to the API webhook with a bearer token from a file, resolved too, grouped by portal', () => {
    const hook = switchoverWebhook(doc);
    expect(hook.url).toBe(WEBHOOK);
    expect(hook.send_resolved).toBe(true);
    const auth = obj(obj(hook.http_config, 'http_config').authorization, 'authorization');
    expect(auth.type).toBe('Bearer');
    expect(str(auth.credentials_file, 'credentials_file')).toMatch(/^\/run\/secrets\/\w+$/);
    expect(auth.credentials).toBeUndefined();
    const route = obj(doc.route, 'route');
    expect(route.group_by).toEqual(['portal']);
    const sw = arr(route.routes, 'routes').map((r) => obj(r, 'route')).find((r) => r.receiver === 'portal-failover-switchover');
    expect(sw?.matchers).toEqual(['failover_action="switchover"']);
    expect(sw?.group_by).toEqual(['portal']);
    expect(sw?.continue).toBe(true);
  });

  it('keeps no secret in the file', () => {
    const secrets = walkStrings(doc).filter((s) => /^(credentials|password|auth_password|bearer_token|api_key|auth_token|routing_key|service_key)$/.test(s.key));
    expect(secrets.map((s) => s.path)).toEqual([]);
  });

  it('inhibits partial alerts and external switch requests while both sites are down', () => {
    const rules = arr(doc.inhibit_rules, 'inhibit_rules').map((r) => obj(r, 'inhibit rule'));
    const bothDown = rules.find((r) => JSON.stringify(r.source_matchers) === JSON.stringify(['alertname="FailoverBothSitesDown"']));
    expect(bothDown?.equal).toEqual(['portal']);
    const targets = JSON.stringify(bothDown?.target_matchers);
    for (const name of ['FailoverPrimaryDownSomeVantages', 'FailoverStandbyUnhealthy', 'FailoverExternalProbeDown']) expect(targets).toContain(name);
  });
});

describe('Alertmanager triggers a switchover through the API webhook (real Alertmanager, API, Redis and PowerDNS)', () => {
  let fx: PortalFixture;
  let app: AllInOne;
  let am: Server;
  let dir: string;
  const token = `pf_${randomBytes(24).toString('base64url')}`;

  beforeAll(async () => {
    const binary = tool('prometheus-alertmanager');
    fx = await portalFixture('am-hook');
    const raw = e2eRawConfig([fx]);
    const sha256 = createHash('sha256').update(token).digest('hex');
    const { REDIS_URL: _ignored, ...env } = process.env;
    const config = parseConfig({ ...raw, api: { listen: '127.0.0.1:0', tokens: [{ name: 'alertmanager', role: 'operator', sha256 }] } }, 'am-test', env);
    app = await startAllInOne(config, testLogger(), createMetrics(undefined, { defaultMetrics: false }));
    // An alert only moves traffic to a target that is up by quorum.
    await waitFor(async () => (await (await fetch(`${app.apiUrl}/metrics`)).text()).includes(`failover_site_healthy{portal="${fx.id}",site="standby"} 1`), {
      timeoutMs: 20_000,
      what: 'the standby up by quorum',
    });
    expect(app.controller.state(fx.id)?.phase).toBe('healthy');

    // The shipped config, with only the webhook's address and the token file moved to this test's.
    dir = tempDir('pf-am-');
    const tokenFile = path.join(dir, 'token');
    fs.writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
    const doc = loadConfig();
    const hook = switchoverWebhook(doc);
    hook.url = `${app.apiUrl}/api/v1/hooks/alertmanager`;
    obj(obj(hook.http_config, 'http_config').authorization, 'authorization').credentials_file = tokenFile;
    fs.writeFileSync(path.join(dir, 'alertmanager.yml'), stringify(doc));
    am = await startReadyServer('alertmanager', binary, dir, (port) => [
      `--config.file=${path.join(dir, 'alertmanager.yml')}`,
      `--storage.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--cluster.listen-address=',
    ]);
  });

  afterAll(async () => {
    await am?.stop();
    await app?.stop();
    await Promise.all([fx?.primary.close(), fx?.standby.close()]);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('moves the DNS answer to the standby with trigger "alert", as the token named in the config', async () => {
    expect(await fx.answer()).toEqual([fx.primaryAddress]);
    const res = await fetch(`${am.url}/api/v2/alerts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([
        {
          labels: { alertname: 'FailoverExternalProbeDown', portal: fx.id, site: 'primary', severity: 'critical', failover_action: 'switchover' },
          annotations: { summary: `${fx.id}: the public address fails from outside; switching away from primary` },
          startsAt: new Date().toISOString(),
        },
      ]),
    });
    expect(res.status).toBe(200);

    await waitFor(async () => (await fx.answer())[0] === fx.standbyAddress, { timeoutMs: 30_000, what: 'DNS answer moved to the standby by the alert' });
    const ops = (await (await fetch(`${app.apiUrl}/api/v1/portals/${fx.id}/operations`, { headers: { authorization: `Bearer ${token}` } })).json()) as {
      operations: { trigger: string; actor: string; from: string; to: string; status: string; reason: string }[];
    };
    expect(ops.operations).toHaveLength(1);
    expect(ops.operations[0]).toMatchObject({ trigger: 'alert', actor: 'alertmanager(alertmanager)', from: 'primary', to: 'standby' });
    expect(ops.operations[0].reason).toContain('FailoverExternalProbeDown');
    await waitFor(async () => (await (await fetch(`${app.apiUrl}/metrics`)).text()).includes(`failover_switchovers_total{portal="${fx.id}",from="primary",to="standby",trigger="alert",result="success"} 1`), {
      what: 'the alert-triggered switch counted in failover_switchovers_total',
    });
    // The alert keeps firing (re-posted, as a still-failing probe would): still exactly one switch.
    for (let i = 0; i < 3; i++) {
      await fetch(`${am.url}/api/v2/alerts`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify([{ labels: { alertname: 'FailoverExternalProbeDown', portal: fx.id, site: 'primary', severity: 'critical', failover_action: 'switchover' }, startsAt: new Date().toISOString() }]),
      });
      await new Promise((r) => setTimeout(r, 1500));
    }
    const again = (await (await fetch(`${app.apiUrl}/api/v1/portals/${fx.id}/operations`, { headers: { authorization: `Bearer ${token}` } })).json()) as { operations: unknown[] };
    expect(again.operations).toHaveLength(1);
    expect(await fx.answer()).toEqual([fx.standbyAddress]);
  });
});
