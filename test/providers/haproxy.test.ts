import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { haproxyProvider, makeFields, type ProviderContext } from '@portal-failover/shared';
import { captureLogger } from '../support/capture-logger';
import { freePort } from '../support/free-port';
import { HAPROXY_INSTALL_HINT, startHaproxy, type HaproxyServer } from '../support/haproxy-server';
import { haproxyStep, PRIMARY, resetHaproxy, STANDBY } from './harnesses';
import { rejection } from './test-kit';

/**
 * haproxy against a real HAProxy 2.6 (`haproxy -db`): real requests through the frontend follow the switch, the
 * unix socket works like the TCP one, a socket that is gone is a retryable error that names it, and the state
 * file keeps the switch across a restart, which plain runtime changes do not.
 */

const { logger } = captureLogger();
const ctx: ProviderContext = { fence: { token: 1, assertHeld: async () => undefined }, logger };

let h: HaproxyServer;
const extra: HaproxyServer[] = [];
const tmpDirs: string[] = [];

beforeAll(async () => {
  h = await startHaproxy({ initiallyMaint: ['standby'] });
});
afterAll(async () => {
  await h?.stop();
});
beforeEach(async () => {
  await resetHaproxy(h);
});
afterEach(async () => {
  while (extra.length) await extra.pop()?.stop();
  while (tmpDirs.length) fs.rmSync(tmpDirs.pop() ?? '', { recursive: true, force: true });
});

function tmpDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-hap-test-'));
  tmpDirs.push(d);
  return d;
}

describe('haproxy: switching servers', () => {
  it('over the unix socket: real requests go to the standby after the switch, and back', async () => {
    const p = haproxyStep(h.unixSocket, logger);
    expect(await h.servedBy()).toBe('primary');
    expect(await p.read()).toEqual({ values: ['primary=ready', 'standby=maint'], detail: 'primary ready (UP), standby maint (DOWN)' });

    const plan = p.plan(await p.read(), STANDBY);
    expect(plan.description).toBe('set server be_portal/standby state ready; set server be_portal/primary state maint');
    await p.apply(plan, ctx);
    for (let i = 0; i < 5; i++) expect(await h.servedBy()).toBe('standby');
    expect(await p.verify(STANDBY)).toMatchObject({ ok: true, observed: ['primary=maint', 'standby=ready'] });

    await p.apply(p.plan(await p.read(), PRIMARY), ctx);
    expect(await h.servedBy()).toBe('primary');
    // SRV_ADMF bits as HAProxy itself reports them: 0 = ready; standby was `disabled` in the config, so 0x04 stays.
    expect(await h.adminStates()).toEqual({ primary: 0, standby: 5 });
  });

  it('treats drain as not the target state', async () => {
    const p = haproxyStep(h.tcpSocket, logger);
    await h.command('set server be_portal/standby state drain');
    expect((await p.read()).values).toEqual(['primary=ready', 'standby=drain']);
    const plan = p.plan(await p.read(), PRIMARY);
    expect(plan.request.commands).toEqual(['set server be_portal/standby state maint']);
  });

  it('verify catches a server put back behind the provider\'s back', async () => {
    const p = haproxyStep(h.tcpSocket, logger);
    await p.apply(p.plan(await p.read(), STANDBY), ctx);
    await h.command('set server be_portal/primary state ready');
    const v = await p.verify(STANDBY);
    expect(v).toMatchObject({ ok: false, observed: ['primary=ready', 'standby=ready'] });
    expect(v.detail).toBe('be_portal: primary is ready, want maint');
  });
});

describe('haproxy: a socket that is gone', () => {
  it('a unix socket path that does not exist: retryable, and the error names the socket', async () => {
    const socket = `unix:${path.join(h.dir, 'no-such.sock')}`;
    const p = haproxyStep(socket, logger);
    const err = await rejection(() => p.read());
    expect(err.retryable).toBe(true);
    expect(err.message).toBe(`haproxy be_portal via ${socket}: runtime API socket ${socket} is not answering: ENOENT`);
    const applyErr = await rejection(() => p.apply(p.plan({ values: [] }, STANDBY), ctx));
    expect(applyErr.retryable).toBe(true);
    expect(applyErr.message).toContain(socket);
  });

  it('HAProxy stopped: both sockets fail retryably, naming the socket; after a restart it works again', async () => {
    const own = await startHaproxy({ initiallyMaint: ['standby'] });
    extra.push(own);
    const viaUnix = haproxyStep(own.unixSocket, logger);
    const viaTcp = haproxyStep(own.tcpSocket, logger);
    expect((await viaUnix.read()).values).toEqual(['primary=ready', 'standby=maint']);
    await own.halt();
    for (const [p, socket] of [[viaUnix, own.unixSocket], [viaTcp, own.tcpSocket]] as const) {
      const err = await rejection(() => p.read());
      expect(err.retryable).toBe(true);
      expect(err.message).toMatch(new RegExp(`runtime API socket ${socket.replace(/[.]/g, '\\.')} is not answering: (ENOENT|ECONNREFUSED)`));
    }
    await own.restart();
    await viaTcp.apply(viaTcp.plan(await viaTcp.read(), STANDBY), ctx);
    expect(await own.servedBy()).toBe('standby');
  });

  it('a closed TCP port is retryable', async () => {
    const socket = `tcp:127.0.0.1:${await freePort()}`;
    const err = await rejection(() => haproxyStep(socket, logger).read());
    expect(err.retryable).toBe(true);
    expect(err.message).toMatch(/ECONNREFUSED/);
  });
});

describe('haproxy: state file across reloads', () => {
  it('without a state file, a restart undoes the switch (the pitfall stateFile exists for)', async () => {
    const own = await startHaproxy({ initiallyMaint: ['standby'] });
    extra.push(own);
    const p = haproxyStep(own.tcpSocket, logger);
    await p.apply(p.plan(await p.read(), STANDBY), ctx);
    expect(await own.servedBy()).toBe('standby');
    await own.restart();
    expect(await own.servedBy()).toBe('primary');
  });

  it('with stateFile, the switch is written to the file and survives a restart with load-server-state-from-file', async () => {
    const stateFile = path.join(tmpDir(), 'server-state');
    const own = await startHaproxy({ initiallyMaint: ['standby'], stateFile });
    extra.push(own);
    const p = haproxyStep(own.tcpSocket, logger, { stateFile });
    expect((await p.read()).values).toEqual(['primary=ready', 'standby=maint', '@stateFile=missing']);

    const plan = p.plan(await p.read(), STANDBY);
    expect(plan.request).toEqual({
      socket: own.tcpSocket,
      backend: 'be_portal',
      commands: ['set server be_portal/standby state ready', 'set server be_portal/primary state maint'],
      saveStateFile: stateFile,
    });
    await p.apply(plan, ctx);
    const saved = fs.readFileSync(stateFile, 'utf8');
    expect(saved.split('\n')[0]).toBe('1');
    expect(saved).toMatch(/be_portal \d+ primary 127\.0\.0\.1 \d+ 1 /);
    expect(await p.verify(STANDBY)).toMatchObject({ ok: true, observed: ['primary=maint', 'standby=ready', '@stateFile=in-sync'] });

    await own.restart();
    expect(await own.servedBy()).toBe('standby');
    expect((await p.read()).values).toEqual(['primary=maint', 'standby=ready', '@stateFile=in-sync']);
    expect(p.plan(await p.read(), STANDBY).changes).toBe(false);
  });

  it('a state file that is missing or stale is a change to make, even when the servers are right', async () => {
    const stateFile = path.join(tmpDir(), 'server-state');
    const p = haproxyStep(h.tcpSocket, logger, { stateFile });
    await p.apply(p.plan(await p.read(), STANDBY), ctx);
    fs.writeFileSync(stateFile, '1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state\n3 be_portal 1 primary 127.0.0.1 2 0\n3 be_portal 2 standby 127.0.0.1 0 1\n');

    expect((await p.read()).values).toEqual(['primary=maint', 'standby=ready', '@stateFile=stale']);
    const v = await p.verify(STANDBY);
    expect(v).toMatchObject({ ok: false });
    expect(v.detail).toBe(`be_portal: state file ${stateFile} is stale`);
    const plan = p.plan(await p.read(), STANDBY);
    expect(plan).toMatchObject({ changes: true, request: { commands: [], saveStateFile: stateFile } });
    await p.apply(plan, ctx);
    expect((await p.verify(STANDBY)).ok).toBe(true);

    fs.rmSync(stateFile);
    expect(p.plan(await p.read(), STANDBY).changes).toBe(true);
  });

  it('a state file that cannot be written is a retryable error saying the switch itself happened', async () => {
    const stateFile = path.join(tmpDir(), 'no-such-dir', 'server-state');
    const p = haproxyStep(h.tcpSocket, logger, { stateFile });
    const err = await rejection(() => p.apply(p.plan({ values: [] }, STANDBY), ctx));
    expect(err.retryable).toBe(true);
    expect(err.message).toMatch(/servers switched, but writing state file .* failed \(ENOENT\); a reload would undo the switch/);
    expect(await h.servedBy()).toBe('standby');
  });
});

describe('haproxy: mistakes are reported, not sent', () => {
  it('a server the backend does not have: non-retryable, nothing sent', async () => {
    const p = haproxyStep(h.tcpSocket, logger, { servers: { primary: 'primary', standby: 'nosuch' } });
    expect((await p.read()).values).toEqual(['nosuch=missing', 'primary=ready']);
    const err = await rejection(async () => p.plan(await p.read(), STANDBY));
    expect(err.retryable).toBe(false);
    expect(err.message).toBe(`haproxy be_portal via ${h.tcpSocket}: backend be_portal has no server nosuch`);
  });

  it('a backend HAProxy does not have: non-retryable', async () => {
    const err = await rejection(() => haproxyStep(h.tcpSocket, logger, { backend: 'be_nosuch' }).read());
    expect(err.retryable).toBe(false);
    expect(err.message).toBe(`haproxy be_nosuch via ${h.tcpSocket}: HAProxy has no backend be_nosuch`);
  });

  it('a socket below level admin: the refusal is final and says what level is needed', async () => {
    const p = haproxyStep(h.userTcpSocket, logger);
    const err = await rejection(async () => p.apply(p.plan({ values: ['primary=ready', 'standby=maint'] }, STANDBY), ctx));
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/"set server be_portal\/standby state ready" failed: Permission denied.*\(the socket needs level admin\)/);
    expect(await h.servedBy()).toBe('primary');
  });

  it('a plan with a command this step would not send is refused before anything is sent', async () => {
    const p = haproxyStep(h.tcpSocket, logger);
    const plan = p.plan({ values: [] }, STANDBY);
    const forged = { ...plan, request: { ...plan.request, commands: ['set server be_portal/standby state ready; shutdown sessions server be_portal/primary'] } };
    const err = await rejection(() => p.apply(forged, ctx));
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/plan is not for this step \(command "set server/);
    expect(await h.servedBy()).toBe('primary');
  });
});

describe('haproxy: schema and site checks', () => {
  const parse = (raw: Record<string, unknown>) =>
    haproxyProvider.schema(makeFields({}, '/etc/portal-failover')).safeParse({ kind: 'haproxy', socket: 'unix:/run/haproxy/admin.sock', backend: 'be_portal', servers: { primary: 'web1', standby: 'web2' }, ...raw });
  const issues = (r: ReturnType<typeof parse>) => (r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));

  it('accepts both socket forms and resolves a relative stateFile against the config folder', () => {
    expect(parse({}).data).toMatchObject({ socket: 'unix:/run/haproxy/admin.sock', timeoutMs: 5000 });
    expect(parse({ socket: 'tcp:127.0.0.1:9999', stateFile: 'state/haproxy' }).data).toMatchObject({ stateFile: '/etc/portal-failover/state/haproxy' });
  });

  it('refuses sockets, names and mappings that cannot work', () => {
    expect(issues(parse({ socket: '/run/haproxy/admin.sock' }))).toEqual(['socket: must be unix:/absolute/path or tcp:host:port']);
    expect(issues(parse({ socket: 'unix:admin.sock' }))).toEqual(['socket: must be unix:/absolute/path or tcp:host:port']);
    expect(issues(parse({ socket: 'tcp:127.0.0.1' }))).toEqual(['socket: must be unix:/absolute/path or tcp:host:port']);
    // ';' would chain a second runtime command, a space add an argument.
    expect(issues(parse({ backend: 'be; shutdown' }))).toEqual(['backend: backend may contain only letters, digits, and _ . : -']);
    expect(issues(parse({ servers: { primary: 'web 1', standby: 'web2' } }))).toEqual(['servers.primary: server may contain only letters, digits, and _ . : -']);
    expect(issues(parse({ servers: { primary: 'web1', standby: 'web1' } }))).toEqual(['servers.standby: server web1 is already mapped to site primary']);
    expect(issues(parse({ servers: {} }))).toEqual(['servers: map at least one site to a server']);
  });

  it('checkSites: every site needs a server, and every mapped name must be a site', () => {
    const step = parse({ servers: { primary: 'web1', dr: 'web3' } }).data;
    if (!step) throw new Error('parse failed');
    expect(haproxyProvider.checkSites(step, [PRIMARY, STANDBY])).toEqual([
      { path: ['servers'], message: 'site standby has no server here; map every site' },
      { path: ['servers', 'dr'], message: 'the portal has no site named dr' },
    ]);
  });
});

describe('haproxy: test servers', () => {
  it('a missing haproxy fails the test with the install hint (it is never skipped)', async () => {
    await expect(startHaproxy({ executable: 'pf-no-such-haproxy' })).rejects.toThrow(
      /pf-no-such-haproxy is not installed .*apt-get install -y --no-install-recommends haproxy/,
    );
    expect(HAPROXY_INSTALL_HINT).toMatch(/haproxy/);
  });
});
