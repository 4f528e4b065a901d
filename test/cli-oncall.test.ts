import { CLI, runCli } from './support/cli';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import YAML from 'yaml';
import { createToken } from '@portal-failover/api';
import { parseTokenFile } from '../services/api/src/auth';
import { parse } from 'yaml';
import { Redis } from 'ioredis';
import { createMetrics, keys, parseConfig, StateStore, type Config } from '@portal-failover/shared';
import { startAllInOne, type AllInOne } from '../cli/src/all-in-one';
import type { ApiOperation, ApiPortal } from '../cli/src/api-client';
import { freePort, waitFor } from './support/free-port';
import { sharedPowerDns } from './support/powerdns-server';
import { sharedRedisUrl } from './support/redis-server';
import { e2eRawConfig, portalFixture, testLogger, type PortalFixture } from './support/e2e';

/**
 * The on-call CLI as an operator runs it: the built binary in a child process, against the real stack (API,
 * controller, checker, Redis, PowerDNS) started in this process. The tests run in order and share one portal, so
 * each one starts from the state the previous one left (as an incident would).
 */
jest.setTimeout(120_000);

const ROOT = path.resolve(__dirname, '..');

const operator = createToken('ops-alice', 'operator');
const viewer = createToken('watcher', 'viewer');

let fx: PortalFixture;
let app: AllInOne;

interface Run {
  code: number | null;
  out: string;
  err: string;
}

/** Runs the CLI without blocking this process's event loop, which also serves the API it talks to. */
function cli(args: string[], o: { token?: string | null; url?: string | null; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  return runCli(args, cliEnv(o));
}

/** The environment the CLI runs in: the API's URL and the operator token, and no contexts file of the user's. */
function cliEnv(o: { token?: string | null; url?: string | null; env?: NodeJS.ProcessEnv } = {}): NodeJS.ProcessEnv {
  const { PORTAL_FAILOVER_URL: _u, PORTAL_FAILOVER_TOKEN: _t, PORTAL_FAILOVER_CONTEXTS: _c, ...base } = process.env;
  const env: NodeJS.ProcessEnv = { ...base, PORTAL_FAILOVER_CONTEXTS: path.join(workDir, 'no-contexts.yaml'), ...o.env };
  if (o.url !== null) env.PORTAL_FAILOVER_URL = o.url ?? app.apiUrl;
  if (o.token !== null) env.PORTAL_FAILOVER_TOKEN = o.token ?? operator.token;
  return env;
}

const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-cli-'));

/**
 * Pass-through to the PowerDNS API that holds every write for `delayMs`. Loopback PowerDNS applies a change in
 * milliseconds, faster than the CLI's 500 ms poll; a real provider API takes longer, and so does this one, so the
 * progress the CLI shows for a running step is exercised. Counts the writes too.
 */
async function slowWriteProxy(target: string, delayMs: number): Promise<{ url: string; writes: () => number; close(): Promise<void> }> {
  const upstream = new URL(target);
  let writes = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const isWrite = req.method !== 'GET';
      if (isWrite) writes++;
      setTimeout(
        () => {
          const out = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, host: upstream.host } }, (up) => {
            res.writeHead(up.statusCode ?? 502, up.headers);
            up.pipe(res);
          });
          out.on('error', (err) => res.writeHead(502).end(String(err)));
          out.end(Buffer.concat(chunks));
        },
        isWrite ? delayMs : 0,
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const addr = server.address();
  return {
    url: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`,
    writes: () => writes,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

let proxy: Awaited<ReturnType<typeof slowWriteProxy>>;

function configWithTokens(portals: PortalFixture[]): Config {
  // The proxy holds each write for 1.5 s (so progress can be watched): the step's time limit must outlast it, and
  // a step's limit must fit in the lease (validation refuses one longer than leaseTtl x 0.8 - renewEvery).
  const raw = e2eRawConfig(portals, { apiUrl: proxy.url, controller: { leaseTtl: '6s' } });
  raw.portals = (raw.portals as Record<string, unknown>[]).map((p) => ({
    ...p,
    traffic: (p.traffic as Record<string, unknown>[]).map((step) => ({ ...step, timeout: '3s' })),
  }));
  raw.api = { ...(raw.api as Record<string, unknown>), tokens: [operator.record, viewer.record] };
  const { REDIS_URL: _ignored, ...env } = process.env;
  return parseConfig(raw, 'cli-oncall', env);
}

beforeAll(async () => {
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npx tsc -b\` first (npm test does)`);
  fx = await portalFixture('oncall');
  proxy = await slowWriteProxy(sharedPowerDns().apiUrl, 1500);
  const config = configWithTokens([fx]);
  app = await startAllInOne(config, testLogger(), createMetrics(undefined, { defaultMetrics: false }));
  await waitFor(() => app.controller.state(fx.id)?.phase === 'healthy', { timeoutMs: 20_000, what: 'portal healthy' });
  // The CLI reads the state the leader saved, one evaluation tick after the leader's own view.
  const redis = new Redis(sharedRedisUrl());
  try {
    const stored = new StateStore(redis, keys(config.redis.prefix));
    await waitFor(async () => (await stored.loadState(fx.id))?.phase === 'healthy', { timeoutMs: 10_000, what: 'healthy state saved' });
  } finally {
    redis.disconnect();
  }
});

afterAll(async () => {
  await app?.stop();
  await Promise.all([fx?.primary.close(), fx?.standby.close(), proxy?.close()]);
});

let switchId = '';

describe('portal-failover on-call commands', () => {
  it('status: a table for people and JSON for scripts', async () => {
    const all = await cli(['status']);
    expect(all).toMatchObject({ code: 0, err: '' });
    expect(all.out).toMatch(/^PORTAL\s+ACTIVE\s+PHASE\s+FROZEN\s+COOLDOWN\s+IN FLIGHT\s+REASON/);
    expect(all.out).toMatch(new RegExp(`^oncall\\s+primary\\s+healthy\\s+no\\s+no\\s+none\\s+\\S`, 'm'));
    expect(all.out).toMatch(/^oncall\s+primary \*\s+hosting-a\s+up\s+ready\s+v1 up$/m);
    expect(all.out).toMatch(/^oncall\s+standby\s+hosting-b\s+up\s+ready\s+v1 up$/m);

    const one = await cli(['status', 'oncall']);
    expect(one.code).toBe(0);
    expect(one.out).toMatch(/^Portal oncall \(Portal oncall\)/);
    expect(one.out).toMatch(/active site:\s+primary/);
    expect(one.out).toMatch(/frozen:\s+no/);
    expect(one.out).toMatch(/in flight:\s+none/);

    const js = await cli(['status', '--json']);
    expect(js.code).toBe(0);
    const parsed = JSON.parse(js.out) as { portals: ApiPortal[] };
    expect(parsed.portals).toHaveLength(1);
    expect(parsed.portals[0]).toMatchObject({ id: 'oncall', activeSite: 'primary', phase: 'healthy', frozen: null, operationInFlight: null });
    expect(parsed.portals[0].sites.map((s) => [s.name, s.status])).toEqual([
      ['primary', 'up'],
      ['standby', 'up'],
    ]);
  });

  it('switchover --dry-run shows the preconditions and the exact plan, and changes nothing', async () => {
    const r = await cli(['switchover', 'oncall', '--to', 'standby', '--reason', 'rehearsal', '--dry-run']);
    expect(r).toMatchObject({ code: 0, err: '' });
    expect(r.out).toContain('Dry run: switchover of oncall from primary to standby. Nothing was changed.');
    expect(r.out).toMatch(/ok {4}target healthy by quorum: standby is up/);
    expect(r.out).toContain(`step 1: powerdns ${fx.record}/A`);
    expect(r.out).toMatch(new RegExp(`change: .*${fx.standbyAddress.replace(/\./g, '\\.')}`));
    expect(r.out).toMatch(/request: \{"method":"PATCH".*"rrsets"/);
    expect(r.out).toContain('Would proceed: yes.');
    expect(await fx.answer()).toEqual([fx.primaryAddress]);
  });

  it('freeze blocks a switchover with a clear 409, and unfreeze lifts it', async () => {
    const f = await cli(['freeze', 'oncall', '--reason', 'change window', '--for', '2h']);
    expect(f).toMatchObject({ code: 0, err: '' });
    expect(f.out).toMatch(/^oncall: automation frozen by ops-alice until \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/m);
    expect((await cli(['status'])).out).toMatch(/^oncall\s+primary\s+frozen\s+yes \(ops-alice\)/m);

    const blocked = await cli(['switchover', '--yes', 'oncall', '--to', 'standby', '--reason', 'should be refused']);
    expect(blocked.code).toBe(1);
    expect(blocked.out).toBe('');
    expect(blocked.err).toBe('portal-failover: precondition failed: automation not frozen: frozen by ops-alice: change window (--override-preconditions overrides this)\n');

    const dry = await cli(['switchover', 'oncall', '--to', 'standby', '--reason', 'would it?', '--dry-run']);
    expect(dry.code).toBe(1);
    expect(dry.out).toContain('FAIL  automation not frozen: frozen by ops-alice: change window');
    expect(dry.out).toContain('Would proceed: no');

    const u = await cli(['unfreeze', 'oncall', '--reason', 'window over']);
    expect(u).toMatchObject({ code: 0, out: 'oncall: automation resumed\n', err: '' });
    expect(await fx.answer()).toEqual([fx.primaryAddress]);
  });

  it('rejects bad input with one line per problem, naming the flag', async () => {
    const r = await cli(['switchover', '--yes', 'oncall', '--to', 'standby', '--reason', 'x']);
    expect(r.code).toBe(1);
    expect(r.err).toBe('portal-failover: invalid body: --reason: must say why in at least 3 characters\n');
    const site = await cli(['switchover', '--yes', 'oncall', '--to', 'tertiary', '--reason', 'no such site']);
    expect(site.err).toBe('portal-failover: invalid body: --to: unknown site "tertiary" (sites: primary, standby)\n');
    const portal = await cli(['status', 'nope']);
    expect(portal).toMatchObject({ code: 1, err: 'portal-failover: unknown portal "nope" (known: oncall)\n' });
    const usage = await cli(['freeze', 'oncall', '--reason', 'both given', '--for', '1h', '--until', '2099-01-01T00:00:00Z']);
    expect(usage).toMatchObject({ code: 2, err: 'portal-failover: give either --until or --for, not both\n' });
    const missing = await cli(['switchover', '--yes', 'oncall', '--to', 'standby']);
    expect(missing.code).toBe(2);
    expect(missing.err).toContain("required option '--reason <text>' not specified");
  });

  it('switchover shows each step until it succeeds, and the DNS answer moves', async () => {
    const r = await cli(['switchover', '--yes', 'oncall', '--to', 'standby', '--reason', 'planned maintenance on primary']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const accepted = /^accepted: operation (\S+) \(oncall: primary -> standby\); waiting up to 2m 00s$/m.exec(r.out);
    expect(accepted).not.toBeNull();
    switchId = accepted![1];
    const lines = r.out.trim().split('\n');
    // One line per change, in order: the operation starts, the step applies and is verified, the operation ends.
    const running = lines.findIndex((l) => /^\[\+[\d.]+m?s\] operation running: primary -> standby$/.test(l));
    const verified = lines.findIndex((l) => new RegExp(`^\\[\\+[\\d.]+m?s\\] step 1/1 powerdns ${fx.record.replace(/\./g, '\\.')}/A: verified: `).test(l));
    const succeeded = lines.findIndex((l) => /^\[\+[\d.]+m?s\] operation succeeded$/.test(l));
    expect(running).toBeGreaterThan(0);
    expect(verified).toBeGreaterThan(running);
    expect(succeeded).toBeGreaterThan(verified);
    const applying = lines.findIndex((l) => /^\[\+[\d.]+m?s\] step 1\/1 powerdns \S+: applying(: .+)?$/.test(l));
    expect(applying).toBeGreaterThan(running);
    expect(verified).toBeGreaterThan(applying);
    expect(lines[lines.length - 1]).toMatch(/^succeeded: oncall now on standby \(primary -> standby in [\d.]+s\)$/);
    // Each change once: polls that see nothing new print nothing.
    expect(new Set(lines).size).toBe(lines.length);
    expect(proxy.writes()).toBe(1);
    await waitFor(async () => (await fx.answer())[0] === fx.standbyAddress, { timeoutMs: 10_000, what: 'DNS answer on the standby' });
    expect((await cli(['status', '--json', 'oncall'])).out).toMatch(/"activeSite": "standby"/);
  });

  it('ack, operations and operation show what happened', async () => {
    const a = await cli(['ack', 'oncall', '--reason', 'checked after the switch']);
    expect(a.code).toBe(0);
    expect(a.out).toMatch(/^oncall: acknowledged by ops-alice at \S+Z; the cooldown no longer blocks automatic switching\n$/);

    const ops = await cli(['operations', 'oncall', '--limit', '5']);
    expect(ops.code).toBe(0);
    expect(ops.out).toMatch(/^ID\s+STATUS\s+SWITCH\s+TRIGGER\s+ACTOR\s+DECIDED\s+TOOK\s+REASON$/m);
    expect(ops.out).toMatch(new RegExp(`^${switchId}\\s+succeeded\\s+primary -> standby\\s+manual\\s+ops-alice\\s+\\S+Z\\s+[\\d.]+m?s\\s+planned maintenance on primary$`, 'm'));
    const opsJson = JSON.parse((await cli(['operations', 'oncall', '--json'])).out) as { operations: ApiOperation[] };
    expect(opsJson.operations[0]).toMatchObject({ id: switchId, status: 'succeeded', actor: 'ops-alice' });

    const one = await cli(['operation', switchId]);
    expect(one.code).toBe(0);
    expect(one.out).toContain(`Operation ${switchId}: succeeded`);
    expect(one.out).toMatch(/switch:\s+primary -> standby \(manual\)/);
    expect(one.out).toMatch(/actor:\s+ops-alice from \S+/);
    expect(one.out).toMatch(/finished:\s+\S+Z \(switch [\d.]+m?s, total [\d.]+m?s\)/);
    expect(one.out).toMatch(new RegExp(`^1\\s+powerdns ${fx.record.replace(/\./g, '\\.')}/A\\s+verified\\s+1\\s+[\\d.]+m?s\\s+\\S`, 'm'));
    expect(one.out).toMatch(/Evidence at decision \(Requested\):\n {2}primary: up \(v1 up\)\n {2}standby: up \(v1 up\)/);
  });

  const succeeded = (id: string) =>
    waitFor(async () => (JSON.parse((await cli(['operation', id, '--json'])).out) as ApiOperation).status === 'succeeded', { timeoutMs: 20_000, intervalMs: 300, what: `${id} succeeded` });

  it('switchover --timeout stops waiting (exit 1) while the switch carries on in the controller', async () => {
    const r = await cli(['switchover', '--yes', 'oncall', '--to', 'primary', '--reason', 'failback after maintenance', '--timeout', '300ms']);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^accepted: operation \S+ \(oncall: standby -> primary\); waiting up to 300ms$/m);
    const gaveUp = /^portal-failover: gave up waiting after 300ms; operation (\S+) is (pending|running) and continues in the controller; follow it with: portal-failover operation (\S+)\n$/.exec(r.err);
    expect(gaveUp).not.toBeNull();
    expect(gaveUp![3]).toBe(gaveUp![1]);
    await succeeded(gaveUp![1]);
    await waitFor(async () => (await fx.answer())[0] === fx.primaryAddress, { timeoutMs: 10_000, what: 'DNS answer back on the primary' });
  });

  it('switchover --no-wait returns the id at once; operation follows it', async () => {
    const r = await cli(['switchover', '--yes', 'oncall', '--to', 'standby', '--reason', 'primary maintenance, second round', '--no-wait', '--json']);
    expect(r).toMatchObject({ code: 0, err: '' });
    const op = JSON.parse(r.out) as ApiOperation;
    expect(op).toMatchObject({ portal: 'oncall', from: 'primary', to: 'standby', status: 'pending', actor: 'ops-alice' });
    await succeeded(op.id);
    await waitFor(async () => (await fx.answer())[0] === fx.standbyAddress, { timeoutMs: 10_000, what: 'DNS answer on the standby again' });
  });

  it('a viewer can read but gets a clear 403 on switchover', async () => {
    expect((await cli(['status'], { token: viewer.token })).code).toBe(0);
    const r = await cli(['switchover', '--yes', 'oncall', '--to', 'standby', '--reason', 'viewer tries'], { token: viewer.token });
    expect(r).toMatchObject({ code: 1, out: '', err: 'portal-failover: this needs the operator role; token "watcher" is viewer\n' });
    const unknown = await cli(['status'], { token: 'pf_not-a-real-token' });
    expect(unknown).toMatchObject({ code: 1, err: 'portal-failover: missing or unknown bearer token (check the token: --token-file, PORTAL_FAILOVER_TOKEN or the context)\n' });
    const none = await cli(['status'], { token: null });
    expect(none.code).toBe(2);
    expect(none.err).toMatch(/^portal-failover: no API token: use --token-file FILE, export PORTAL_FAILOVER_TOKEN, or a context with a tokenFile.*shell history/);
  });

  it('a wrong URL gives a clear connection error', async () => {
    const port = await freePort();
    const r = await cli(['status'], { url: `http://127.0.0.1:${port}` });
    expect(r).toMatchObject({ code: 1, out: '' });
    expect(r.err).toBe(`portal-failover: cannot reach the API at http://127.0.0.1:${port}: connection refused (ECONNREFUSED); check --url or PORTAL_FAILOVER_URL\n`);
    expect(r.err).not.toContain(operator.token);
  });

  it('audit shows a table, and audit export writes every entry as JSON lines across pages, without tokens', async () => {
    const wanted = ['operation.requested', 'operation.started', 'operation.finished', 'freeze', 'unfreeze', 'ack'];
    // operation.finished is written by the controller just after the operation is saved; give it a moment.
    const exported = await waitFor(
      async () => {
        const r = await cli(['audit', 'export', '--portal', 'oncall', '--since', '1h']);
        const types = r.out.trim().split('\n').map((l) => (JSON.parse(l) as { type: string }).type);
        return wanted.every((t) => types.includes(t)) && types.filter((t) => t === 'operation.finished').length === 3 ? r : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 300, what: 'audit entries for everything done' },
    );
    expect(exported).toMatchObject({ code: 0, err: '' });
    const entries = exported.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { id: string; type: string; actor: string; operation?: string; reason?: string; data?: Record<string, unknown> });
    const of = (type: string, op?: string) => entries.find((e) => e.type === type && (op === undefined || e.operation === op));
    expect(of('operation.requested', switchId)).toMatchObject({ actor: 'ops-alice', reason: 'planned maintenance on primary', data: { from: 'primary', to: 'standby' } });
    expect(of('operation.started', switchId)).toMatchObject({ actor: 'ops-alice' });
    expect(of('operation.finished', switchId)).toMatchObject({ actor: 'ops-alice', data: { result: 'succeeded' } });
    expect(of('freeze')).toMatchObject({ actor: 'ops-alice', reason: 'change window' });
    expect(of('unfreeze')).toMatchObject({ actor: 'ops-alice', reason: 'window over' });
    expect(of('ack')).toMatchObject({ actor: 'ops-alice', reason: 'checked after the switch' });
    // Oldest first, as the API pages them.
    const ids = entries.map((e) => e.id);
    expect([...ids].sort((x, y) => Number(x.split('-')[0]) - Number(y.split('-')[0]) || Number(x.split('-')[1]) - Number(y.split('-')[1]))).toEqual(ids);
    for (const t of [operator.token, viewer.token]) expect(exported.out).not.toContain(t);

    // Small pages: the export follows `next` and gives exactly the same lines.
    const paged = await cli(['audit', 'export', '--portal', 'oncall', '--since', '1h', '--page-size', '2']);
    expect(paged).toMatchObject({ code: 0, err: '' });
    expect(paged.out).toBe(exported.out);

    const table = await cli(['audit', '--portal', 'oncall', '--type', 'operation', '--limit', '3']);
    expect(table.code).toBe(0);
    expect(table.out).toMatch(/^AT\s+TYPE\s+PORTAL\s+ACTOR\s+OPERATION\s+REASON\s+DETAIL$/m);
    expect(table.out).toMatch(new RegExp(`^\\S+Z\\s+operation\\.requested\\s+oncall\\s+ops-alice\\s+${switchId}\\s+planned maintenance on primary\\s+primary -> standby$`, 'm'));
    expect(table.out).toMatch(new RegExp(`^\\S+Z\\s+operation\\.finished\\s+oncall\\s+ops-alice\\s+${switchId}\\s+planned maintenance on primary\\s+succeeded$`, 'm'));
    expect(table.out).toContain('(more entries follow');
  });

  it('token create prints a token once with config lines whose sha256 matches it', async () => {
    const r = await cli(['token', 'create', '--name', 'ops-bob', '--role', 'operator'], { token: null, url: 'http://127.0.0.1:9' });
    expect(r).toMatchObject({ code: 0, err: '' });
    const token = /^ {2}(pf_[A-Za-z0-9_-]+)$/m.exec(r.out)?.[1];
    expect(token).toBeDefined();
    const sha = createHash('sha256').update(token!).digest('hex');
    expect(r.out).toContain(`  - { name: ops-bob, role: operator, sha256: ${sha} }\n`);
    expect(r.out).toContain(`  ops-bob operator ${sha}\n`);
    expect(r.out.split(token!)).toHaveLength(2);

    // The printed YAML line is accepted by the config parser as an api.tokens entry.
    const raw = e2eRawConfig([fx]);
    raw.api = { ...(raw.api as Record<string, unknown>), tokens: [{ name: 'ops-bob', role: 'operator', sha256: sha }] };
    const { REDIS_URL: _ignored, ...env } = process.env;
    expect(parseConfig(raw, 'check', env).api.tokens[0].sha256).toBe(sha);

    const bad = await cli(['token', 'create', '--name', 'ops-bob', '--role', 'root'], { token: null });
    expect(bad).toMatchObject({ code: 2, out: '', err: 'portal-failover: --role: "root" must be one of viewer, automation, operator, admin\n' });
  });

  it('token create --expires prints lines with the expiry that the config and the token file both accept', async () => {
    const r = await cli(['token', 'create', '--name', 'alertmanager', '--role', 'automation', '--expires', '2027-01-31T00:00:00Z', '--json'], { token: null });
    expect(r).toMatchObject({ code: 0, err: '' });
    const printed = JSON.parse(r.out) as { sha256: string; expires: string; yaml: string; tokenFileLine: string };
    expect(printed.expires).toBe('2027-01-31T00:00:00Z');
    expect(parseTokenFile(printed.tokenFileLine, 'tokens')).toEqual([{ name: 'alertmanager', role: 'automation', sha256: printed.sha256, expires: '2027-01-31T00:00:00Z' }]);
    const raw = e2eRawConfig([fx]);
    raw.api = { ...(raw.api as Record<string, unknown>), tokens: [(parse(printed.yaml) as unknown[])[0]] };
    const { REDIS_URL: _ignored, ...env } = process.env;
    expect(parseConfig(raw, 'check', env).api.tokens[0]).toMatchObject({ role: 'automation', expires: '2027-01-31T00:00:00Z' });

    const bad = await cli(['token', 'create', '--name', 'x', '--role', 'viewer', '--expires', 'tomorrow'], { token: null });
    expect(bad).toMatchObject({ code: 2, out: '', err: expect.stringContaining('--expires: "tomorrow" must be an ISO 8601 date-time') });
  });
});

describe('CLI conventions: output formats, token file, contexts, confirmation, watch, completion', () => {
  it('-o yaml and -o json give the same answer; -o with an unknown format is a usage error', async () => {
    const j = await cli(['status', 'oncall', '-o', 'json']);
    const y = await cli(['status', 'oncall', '-o', 'yaml']);
    expect(j.code).toBe(0);
    expect(y.code).toBe(0);
    const fromYaml = YAML.parse(y.out) as ApiPortal;
    const fromJson = JSON.parse(j.out) as ApiPortal;
    expect(fromYaml.id).toBe('oncall');
    // The two reads are moments apart: compare what does not move between them.
    expect({ id: fromYaml.id, active: fromYaml.activeSite, sites: fromYaml.sites.map((s) => s.name) }).toEqual({ id: fromJson.id, active: fromJson.activeSite, sites: fromJson.sites.map((s) => s.name) });
    const bad = await cli(['status', '-o', 'xml']);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain("option '-o, --output <format>' argument 'xml' is invalid. must be one of table, json, yaml");
  });

  it('--token-file reads the token from a file, wins over the environment, and never prints it', async () => {
    const file = path.join(workDir, 'viewer.token');
    fs.writeFileSync(file, `${viewer.token}\n`, { mode: 0o600 });
    // The environment holds the operator token; the file's viewer token is the one used, so switchover is refused.
    const r = await cli(['switchover', '--yes', 'oncall', '--to', 'primary', '--reason', 'token file says viewer', '--token-file', file]);
    expect(r).toMatchObject({ code: 1, out: '', err: 'portal-failover: this needs the operator role; token "watcher" is viewer\n' });
    const ok = await cli(['status', '--token-file', file], { token: null });
    expect(ok.code).toBe(0);
    const empty = path.join(workDir, 'empty.token');
    fs.writeFileSync(empty, '\n');
    const e = await cli(['status', '--token-file', empty], { token: null });
    expect(e).toMatchObject({ code: 2, out: '', err: `portal-failover: --token-file: ${empty} is empty\n` });
    const missing = await cli(['status', '--token-file', path.join(workDir, 'nope.token')], { token: null });
    expect(missing).toMatchObject({ code: 2, err: `portal-failover: --token-file: cannot read ${path.join(workDir, 'nope.token')}: ENOENT\n` });
    for (const x of [r, ok, e, missing]) expect(x.out + x.err).not.toContain(viewer.token);
  });

  it('named contexts: set, use, list; a command with no URL or token in flags or environment uses the current one', async () => {
    const contexts = path.join(workDir, 'ctx', 'contexts.yaml');
    const tokenFile = path.join(workDir, 'operator.token');
    fs.writeFileSync(tokenFile, operator.token, { mode: 0o600 });
    const env = { PORTAL_FAILOVER_CONTEXTS: contexts };
    const bare = { token: null, url: null, env };

    const set = await cli(['context', 'set', 'lab', '--url', app.apiUrl, '--token-file', tokenFile], bare);
    expect(set).toMatchObject({ code: 0, err: '', out: `context lab saved in ${contexts} (and made current)\n` });
    expect(await cli(['context', 'set', 'other', '--url', 'http://127.0.0.1:9', '--token-file', tokenFile], bare)).toMatchObject({ code: 0 });
    const text = fs.readFileSync(contexts, 'utf8');
    expect(text).not.toContain(operator.token);
    expect(fs.statSync(contexts).mode & 0o077).toBe(0);

    const st = await cli(['status', 'oncall', '-o', 'json'], bare);
    expect(st).toMatchObject({ code: 0, err: '' });
    expect((JSON.parse(st.out) as ApiPortal).id).toBe('oncall');

    // Switching the current context to one whose API is down shows it is really the context that is used.
    expect(await cli(['context', 'use', 'other'], bare)).toMatchObject({ code: 0, out: 'current context: other\n' });
    const down = await cli(['status'], bare);
    expect(down.code).toBe(1);
    expect(down.err).toContain('cannot reach the API at http://127.0.0.1:9');
    // --context picks one for a single command; the environment's URL beats the context's.
    expect((await cli(['status', '--context', 'lab'], bare)).code).toBe(0);
    expect((await cli(['status'], { token: null, env })).code).toBe(0);

    const list = await cli(['context', 'list'], bare);
    expect(list.out).toMatch(/^CURRENT\s+NAME\s+URL\s+TOKEN FILE$/m);
    expect(list.out).toMatch(/^\*\s+other\s+http:\/\/127\.0\.0\.1:9\s+\S+operator\.token$/m);
    expect(list.out).toMatch(/^-\s+lab\s+http:\/\/127\.0\.0\.1:\d+\s+\S+operator\.token$/m);

    const unknown = await cli(['status', '--context', 'prod'], bare);
    expect(unknown).toMatchObject({ code: 2, err: `portal-failover: --context: "prod" is not in ${contexts} (known: lab, other)\n` });

    // A token written into the contexts file is refused with the field, not used.
    const withToken = path.join(workDir, 'bad-contexts.yaml');
    fs.writeFileSync(withToken, `current: x\ncontexts:\n  x: { url: "${app.apiUrl}", token: "${operator.token}" }\n`);
    const refused = await cli(['status'], { token: null, url: null, env: { PORTAL_FAILOVER_CONTEXTS: withToken } });
    expect(refused.code).toBe(2);
    expect(refused.err).toBe(`portal-failover: ${withToken}: contexts.x.token: a context holds the path of a token file (tokenFile), never the token itself\n`);
    expect(refused.err).not.toContain(operator.token);
  });

  it('a real switchover asks for confirmation: with no terminal to ask, --yes is required and nothing happens without it', async () => {
    const before = (JSON.parse((await cli(['operations', 'oncall', '--json'])).out) as { operations: ApiOperation[] }).operations.length;
    const r = await cli(['switchover', 'oncall', '--to', 'primary', '--reason', 'no confirmation given']);
    expect(r).toMatchObject({ code: 2, out: '', err: 'portal-failover: --yes: stdin is not a terminal, so there is no one to confirm this switch; add --yes to go ahead\n' });
    const after = (JSON.parse((await cli(['operations', 'oncall', '--json'])).out) as { operations: ApiOperation[] }).operations.length;
    expect(after).toBe(before);
  });

  it('at a terminal the switchover asks, and an answer other than y changes nothing', async () => {
    const before = (JSON.parse((await cli(['operations', 'oncall', '--json'])).out) as { operations: ApiOperation[] }).operations.length;
    // util-linux `script` gives the CLI a real pseudo-terminal; the answer is typed into it.
    const r = await new Promise<{ code: number | null; out: string }>((resolve, reject) => {
      const cmd = `${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} switchover oncall --to primary --reason "asked at a terminal"`;
      const child = spawn('script', ['-qec', cmd, '/dev/null'], { env: cliEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        if (out.includes('[y/N]') && child.stdin.writable) child.stdin.end('n\n');
      });
      child.once('error', reject);
      child.once('close', (code) => resolve({ code, out }));
    });
    expect(r.out).toMatch(/Switch oncall to primary \(http:\/\/127\.0\.0\.1:\d+\)\? Real traffic moves\. \[y\/N\]/);
    expect(r.out).toContain('not confirmed: nothing was changed');
    expect(r.code).toBe(1);
    const after = (JSON.parse((await cli(['operations', 'oncall', '--json'])).out) as { operations: ApiOperation[] }).operations.length;
    expect(after).toBe(before);
  });

  it('--override-preconditions overrides a freeze (shown by a dry run); --force still works as its old name', async () => {
    expect((await cli(['freeze', 'oncall', '--reason', 'override check', '--for', '10m'])).code).toBe(0);
    const plain = await cli(['switchover', 'oncall', '--to', 'primary', '--reason', 'override check', '--dry-run']);
    expect(plain.code).toBe(1);
    expect(plain.out).toContain('--override-preconditions overrides the health and freeze checks only');
    for (const flag of ['--override-preconditions', '--force']) {
      const d = await cli(['switchover', 'oncall', '--to', 'primary', '--reason', 'override check', '--dry-run', flag]);
      expect(d.code).toBe(0);
      expect(d.out).toContain('Would proceed: yes.');
    }
    expect((await cli(['switchover', '--help'])).out).not.toContain('--force');
    expect((await cli(['unfreeze', 'oncall', '--reason', 'override check done'])).code).toBe(0);
  });

  it('status --watch redraws on an interval; into a pipe every screen is kept with its time', async () => {
    const child = spawn(process.execPath, [CLI, 'status', '--watch', '1'], { env: cliEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (text += d));
    try {
      await waitFor(() => (text.match(/^Every 1s: portal-failover status {2}\d{4}-\d\d-\d\dT\S+Z$/gm) ?? []).length >= 2, { timeoutMs: 15_000, what: 'two screens' });
    } finally {
      child.kill('SIGINT');
    }
    expect(text).not.toContain('\x1b[');
    expect(text.match(/^PORTAL\s+ACTIVE\s+PHASE/gm)?.length).toBeGreaterThanOrEqual(2);
    // For scripts: one JSON document per line, every line parseable.
    const js = spawn(process.execPath, [CLI, 'status', '--watch', '1', '-o', 'json'], { env: cliEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let lines = '';
    js.stdout.setEncoding('utf8').on('data', (d: string) => (lines += d));
    try {
      await waitFor(() => lines.split('\n').filter(Boolean).length >= 2, { timeoutMs: 15_000, what: 'two JSON lines' });
    } finally {
      js.kill('SIGINT');
    }
    for (const l of lines.split('\n').filter(Boolean)) expect((JSON.parse(l) as { portals: ApiPortal[] }).portals.map((p) => p.id)).toEqual(['oncall']);
    const bad = await cli(['status', '--watch', '0']);
    expect(bad).toMatchObject({ code: 2, err: 'portal-failover: --watch: "0" must be an interval from 1s to 1h, e.g. 2 or 5s\n' });
  });

  it('completion bash completes commands, subcommands and flags from the real command tree', async () => {
    const script = await cli(['completion', 'bash'], { token: null, url: null });
    expect(script.code).toBe(0);
    const file = path.join(workDir, 'completion.bash');
    fs.writeFileSync(file, script.out);
    const complete = async (words: string[]): Promise<string[]> => {
      const r = await new Promise<string>((resolve, reject) => {
        const b = spawn('bash', ['-c', `source "$1"; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _portal_failover; printf '%s\\n' "\${COMPREPLY[@]}"`, 'x', file], { stdio: ['ignore', 'pipe', 'pipe'] });
        let o = '';
        b.stdout.setEncoding('utf8').on('data', (d: string) => (o += d));
        b.once('error', reject);
        b.once('close', () => resolve(o));
      });
      return r.split('\n').filter(Boolean);
    };
    expect(await complete(['portal-failover', 'swi'])).toEqual(['switchover']);
    expect(await complete(['portal-failover', 'switchover', 'oncall', '--ov'])).toEqual(['--override-preconditions']);
    expect(await complete(['portal-failover', 'context', ''])).toEqual(expect.arrayContaining(['list', 'use', 'set', 'delete']));
    expect(await complete(['portal-failover', 'status', '--wa'])).toEqual(['--watch']);
    const zsh = await cli(['completion', 'zsh'], { token: null, url: null });
    expect(zsh.out).toContain('bashcompinit');
    expect(await cli(['completion', 'fish'], { token: null, url: null })).toMatchObject({ code: 2, err: 'portal-failover: <shell>: "fish" is not supported; use bash or zsh\n' });
  });
  it('risk-windows add, list and delete: an announced cut with its zone; a start without one refused naming the flag', async () => {
    const day = new Date(Date.now() + 5 * 86_400_000).toISOString().slice(0, 10);
    const flags = ['--name', 'billing-cutoff', '--duration', '6h', '--lead-time', '2h', '--lower-ttl-to', '5s', '--reason', 'hosting-a notice'];
    const noZone = await cli(['risk-windows', 'add', 'oncall', '--start', `${day}T00:00:00`, ...flags]);
    expect(noZone.code).toBe(1);
    expect(noZone.err).toContain(`start: "${day}T00:00:00" has no zone`);
    const added = await cli(['risk-windows', 'add', 'oncall', '--start', `${day}T00:00:00+07:00`, ...flags]);
    expect(added).toMatchObject({ code: 0, err: '' });
    expect(added.out).toBe(`oncall: risk window "billing-cutoff" announced: ${day}T00:00:00+07:00 to ${day}T06:00:00+07:00, TTLs lowered to 5s from ${added.out.match(/from (\S+)\n/)?.[1]}\n`);
    const list = await cli(['risk-windows', 'list', 'oncall']);
    expect(list.out).toMatch(/^oncall: DNS TTLs as configured/);
    expect(list.out).toMatch(new RegExp(`^billing-cutoff\\s+scheduled\\s+${day}T00:00:00\\+07:00 \\(\\S+Z\\)\\s+${day}T06:00:00\\+07:00`, 'm'));
    const asJson = JSON.parse((await cli(['risk-windows', 'list', 'oncall', '-o', 'json'])).out) as { windows: { name: string; source: string }[] };
    expect(asJson.windows).toEqual([expect.objectContaining({ name: 'billing-cutoff', source: 'api' })]);
    expect(await cli(['risk-windows', 'delete', 'oncall', 'billing-cutoff', '--reason', 'notice withdrawn'])).toMatchObject({ code: 0, out: 'oncall: risk window "billing-cutoff" withdrawn\n' });
    expect((await cli(['risk-windows', 'list', 'oncall'])).out).toContain('no risk windows');
  });
});
