import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  haproxyProvider,
  makeFields,
  powerdnsProvider,
  rfc2136Provider,
  webhookProvider,
  zonefileProvider,
  type Logger,
  type ProviderContext,
  type Rfc2136State,
  type StepPlan,
  type TargetSite,
  type TrafficProvider,
} from '@portal-failover/shared';
import { BIND_INSTALL_HINT, startBind, type BindServer } from '../support/bind-server';
import { startKnot, type KnotServer } from '../support/knot-server';
import { decodeWire, DNS_CLASS, DNS_TYPE, startDnsTcpProxy } from '../support/dns-tcp-proxy';
import { freePort, requireExecutable } from '../support/free-port';
import { startCommandRecorder, startHaproxy, type HaproxyServer } from '../support/haproxy-server';
import { createZone, queryA, replaceRRsets, sharedPowerDns } from '../support/powerdns-server';
import { startRecordingProxy } from '../support/recording-proxy';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver';
import { rejection } from './test-kit';

/**
 * One harness per provider for test/providers/conformance.test.ts: the real server the provider talks to, a way
 * to see what that server serves without going through the provider, a record of the writes it received, and a
 * way to change its state behind the provider's back.
 */

/** One test's fresh world: the primary site active, a provider under test, and instruments around it. */
export interface Case {
  provider: TrafficProvider;
  /** What the live system serves now, found without the provider (DNS query, frontend request, file, receiver). */
  observe(): Promise<string[]>;
  /** Writes the system received from the provider under test since the case began. */
  writes(): Promise<unknown[]>;
  /** Requests of any kind (reads too) since the case began; undefined where there is nothing to count. */
  requests(): number | undefined;
  /** Changes the live state behind the provider's back to something no site uses. */
  tamper(): Promise<void>;
  /** DNS steps: the same step for the same record written with another TTL (what a risk window does). */
  withTtl?(ttl: number): TrafficProvider;
  close(): Promise<void>;
}

export interface Harness {
  kind: string;
  primary: TargetSite;
  standby: TargetSite;
  /** Texts that must never appear in labels, plans, errors or logs. */
  secrets: string[];
  /** read().values when the site is active. */
  readValues(site: TargetSite): string[];
  /** Case.observe() when the site is active. */
  observed(site: TargetSite): string[];
  /** Checks the writes of one apply against its plan: exact content, nothing more. */
  expectWritesMatch(writes: unknown[], plan: StepPlan): void;
  newCase(logger: Logger): Promise<Case>;
  /** A provider whose endpoint is gone: closed port, missing socket or file. */
  unreachable(logger: Logger): Promise<{ provider: TrafficProvider; retryable: boolean; mentions: string }>;
  /** A provider with a wrong credential, for providers that have one. */
  wrongCredential?(logger: Logger): TrafficProvider;
  close(): Promise<void>;
}

export const PRIMARY: TargetSite = { name: 'primary', routing: { address: '192.0.2.10' } };
export const STANDBY: TargetSite = { name: 'standby', routing: { address: '198.51.100.20' } };
const TAMPERED = '203.0.113.7';

async function closedPort(): Promise<number> {
  return freePort();
}

// ---------------------------------------------------------------------------------------------------------------

export async function powerdnsHarness(): Promise<Harness> {
  const pdns = sharedPowerDns();
  const wrongKey = `wrong-${randomBytes(12).toString('hex')}`;
  const create = (raw: Record<string, unknown>, key: string, logger: Logger) =>
    powerdnsProvider.create(powerdnsProvider.schema(makeFields({ KEY: key })).parse({ kind: 'powerdns', apiKey: '${KEY}', type: 'A', ttl: 30, timeout: '3s', ...raw }), { logger });
  const zoneFor = () => `conf-${process.pid}-${randomBytes(4).toString('hex')}.test.`;
  return {
    kind: 'powerdns',
    primary: PRIMARY,
    standby: STANDBY,
    secrets: [pdns.apiKey, wrongKey],
    readValues: (s) => [s.routing.address ?? ''],
    observed: (s) => [s.routing.address ?? ''],
    expectWritesMatch(writes, plan) {
      expect(writes).toHaveLength(1);
      const [w] = writes as { method: string; path: string; body: string; status?: number }[];
      expect(w.method).toBe('PATCH');
      expect(String(plan.request.url).endsWith(w.path)).toBe(true);
      expect(JSON.parse(w.body)).toEqual(plan.request.body);
      expect(w.status).toBe(204);
    },
    async newCase(logger) {
      const zone = zoneFor();
      const record = `www.${zone}`;
      await createZone(pdns, zone, [{ name: record, type: 'A', ttl: 30, records: [PRIMARY.routing.address ?? ''] }]);
      const proxy = await startRecordingProxy(pdns.apiUrl);
      return {
        provider: create({ apiUrl: proxy.url, zone, record }, pdns.apiKey, logger),
        observe: () => queryA(pdns.dnsHost, pdns.dnsPort, record),
        writes: async () => proxy.writes(),
        requests: () => proxy.requests.length,
        tamper: () => replaceRRsets(pdns, zone, [{ name: record, type: 'A', ttl: 30, records: [TAMPERED] }]),
        withTtl: (ttl) => create({ apiUrl: proxy.url, zone, record, ttl }, pdns.apiKey, logger),
        close: () => proxy.close(),
      };
    },
    async unreachable(logger) {
      const zone = zoneFor();
      return { provider: create({ apiUrl: `http://127.0.0.1:${await closedPort()}`, zone, record: `www.${zone}` }, pdns.apiKey, logger), retryable: true, mentions: 'ECONNREFUSED' };
    },
    wrongCredential: (logger) => create({ apiUrl: pdns.apiUrl, zone: 'nowhere.test.', record: 'www.nowhere.test.' }, wrongKey, logger),
    close: async () => undefined,
  };
}

// ---------------------------------------------------------------------------------------------------------------

/** The zone's A records for www as BIND's own parser (named-checkzone -D) reads the file. */
function zoneFileValues(checkzone: string, file: string): string[] {
  const out = execFileSync(checkzone, ['-q', '-D', '-o', '-', 'portal.example', file], { encoding: 'utf8' });
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f[0] === 'www.portal.example.' && f[2] === 'IN' && f[3] === 'A')
    .map((f) => f[4])
    .sort();
}

export async function zonefileHarness(): Promise<Harness> {
  const checkzone = requireExecutable('named-checkzone', BIND_INSTALL_HINT);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-conf-zone-'));
  let seq = 0;
  // The reload command records the file as it was when the reload ran: one entry per write that took effect.
  const reloadScript = 'const fs=require("fs");fs.appendFileSync(process.argv[2], JSON.stringify(fs.readFileSync(process.argv[1],"utf8"))+"\\n")';
  const create = (file: string, log: string, logger: Logger, ttl = 30) =>
    zonefileProvider.create(
      zonefileProvider.schema(makeFields({})).parse({ kind: 'zonefile', path: file, zone: 'portal.example.', record: 'www', type: 'A', ttl, reloadCommand: [process.execPath, '-e', reloadScript, file, log] }),
      { logger },
    );
  const zoneText = (value: string) =>
    ['$TTL 30', '@ IN SOA ns1.portal.example. hostmaster.portal.example. ( 1 60 30 3600 30 )', '  IN NS ns1', 'ns1 IN A 127.0.0.1', `www IN A ${value}`, ''].join('\n');
  return {
    kind: 'zonefile',
    primary: PRIMARY,
    standby: STANDBY,
    secrets: [],
    readValues: (s) => [s.routing.address ?? ''],
    observed: (s) => [s.routing.address ?? ''],
    expectWritesMatch(writes, plan) {
      expect(writes).toHaveLength(1);
      const text = String(writes[0]);
      const req = plan.request as { value: string; ttl: number; record: string };
      expect(req.record).toBe('www.portal.example.');
      expect(text).toContain(`www.portal.example. ${req.ttl} IN A ${req.value}`);
      expect(text).not.toContain(PRIMARY.routing.address);
      // The serial was bumped past 1.
      expect(text).not.toMatch(/\( 1 60 30 3600 30 \)/);
    },
    async newCase(logger) {
      const dir = path.join(root, String(++seq));
      fs.mkdirSync(dir);
      const file = path.join(dir, 'db.portal.example');
      const log = path.join(dir, 'reloads.log');
      fs.writeFileSync(file, zoneText(PRIMARY.routing.address ?? ''));
      fs.writeFileSync(log, '');
      return {
        provider: create(file, log, logger),
        observe: async () => zoneFileValues(checkzone, file),
        writes: async () => fs.readFileSync(log, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as string),
        requests: () => undefined,
        tamper: async () => {
          const text = fs.readFileSync(file, 'utf8');
          fs.writeFileSync(file, text.replace(/(www\.portal\.example\. \d+ IN A )\S+/, `$1${TAMPERED}`).replace(/www IN A \S+/, `www IN A ${TAMPERED}`));
        },
        withTtl: (ttl) => create(file, log, logger, ttl),
        close: async () => undefined,
      };
    },
    async unreachable(logger) {
      const missing = path.join(root, 'missing', 'db.portal.example');
      // A missing zone file does not come back by waiting: someone has to put it there.
      return { provider: create(missing, path.join(root, 'missing.log'), logger), retryable: false, mentions: missing };
    },
    close: async () => fs.rmSync(root, { recursive: true, force: true }),
  };
}

// ---------------------------------------------------------------------------------------------------------------

export const RFC2136_ZONE = 'portal.example';

/** The TSIG keys and zone content the BIND and Knot harnesses share; only the way rights are written differs. */
const CONFORMANCE_KEYS: { name: string; algorithm: 'hmac-sha256' | 'hmac-sha512' }[] = [
  { name: 'failover-key', algorithm: 'hmac-sha256' },
  { name: 'failover-key-512', algorithm: 'hmac-sha512' },
  { name: 'admin-key', algorithm: 'hmac-sha256' },
];
const CONFORMANCE_RECORDS = [`www IN A ${PRIMARY.routing.address ?? ''}`, 'api IN A 192.0.2.99', 'v6 IN AAAA 2001:db8::10', 'portal IN CNAME primary.example.net.'];

/** BIND with a least-privilege key for www A/AAAA/CNAME and an admin key that may change anything (for resets). */
export async function startConformanceBind(): Promise<BindServer> {
  return startBind({
    keys: CONFORMANCE_KEYS,
    zones: [
      {
        name: RFC2136_ZONE,
        records: CONFORMANCE_RECORDS,
        updatePolicy: [
          'grant failover-key name www.portal.example. A AAAA;',
          'grant failover-key name v6.portal.example. AAAA;',
          'grant failover-key name portal.portal.example. CNAME;',
          'grant failover-key-512 name www.portal.example. A;',
          // The epoch records the provider fences its updates with.
          'grant failover-key name _pf-epoch.www.portal.example. TXT;',
          'grant failover-key name _pf-epoch.v6.portal.example. TXT;',
          'grant failover-key name _pf-epoch.portal.portal.example. TXT;',
          'grant failover-key-512 name _pf-epoch.www.portal.example. TXT;',
          'grant admin-key zonesub ANY;',
        ],
      },
      // Exists and is served, but takes no updates from anyone: updates are REFUSED.
      { name: 'locked.example', records: ['www IN A 192.0.2.10'] },
    ],
  });
}

export function rfc2136Step(bind: BindServer, raw: Record<string, unknown>, secret: string, logger: Logger): TrafficProvider {
  const step = rfc2136Provider.schema(makeFields({ TSIG_SECRET: secret })).parse({
    kind: 'rfc2136',
    server: bind.server,
    zone: RFC2136_ZONE,
    record: `www.${RFC2136_ZONE}`,
    type: 'A',
    ttl: 30,
    timeout: '3s',
    ...raw,
    tsig: { name: 'failover-key', algorithm: 'hmac-sha256', secret: '${TSIG_SECRET}', ...(raw.tsig as Record<string, unknown> | undefined) },
  });
  return rfc2136Provider.create(step, { logger });
}

/**
 * Sets a record through the admin key with BIND's nsupdate (a client that is not the provider), directly at the
 * server, and removes the record's epoch: the "someone else changed it" of the tests, and a fresh start for each.
 */
export async function adminSet(bind: BindServer, record: string, type: 'A' | 'AAAA' | 'CNAME', site: TargetSite, _logger?: Logger): Promise<void> {
  const value = type === 'CNAME' ? site.routing.target : site.routing.address;
  const name = record.endsWith('.') ? record : `${record}.`;
  nsupdate(bind, [`update delete ${name} ${type}`, `update add ${name} 30 ${type} ${value ?? ''}`, `update delete _pf-epoch.${name} TXT`]);
}

/** Sends one update signed with the admin key through nsupdate (-v: over TCP, as the provider does). */
export function nsupdate(bind: BindServer, lines: string[]): void {
  const nsupdateBin = requireExecutable('nsupdate', BIND_INSTALL_HINT);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-nsupdate-'));
  try {
    const keyFile = path.join(dir, 'admin.key');
    fs.writeFileSync(keyFile, `key "admin-key" { algorithm hmac-sha256; secret "${bind.keys['admin-key'].secret}"; };\n`, { mode: 0o600 });
    const script = [`server ${bind.host} ${bind.port}`, `zone ${RFC2136_ZONE}.`, ...lines, 'send', ''].join('\n');
    execFileSync(nsupdateBin, ['-v', '-t', '5', '-k', keyFile], { input: script, stdio: ['pipe', 'pipe', 'pipe'] });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function ipv4Bytes(value: string): Buffer {
  return Buffer.from(value.split('.').map(Number));
}

export async function rfc2136Harness(start: () => Promise<BindServer> = startConformanceBind): Promise<Harness> {
  const bind = await start();
  const secret = bind.keys['failover-key'].secret;
  const wrong = randomBytes(32).toString('base64');
  const record = `www.${RFC2136_ZONE}.`;
  return {
    kind: 'rfc2136',
    primary: PRIMARY,
    standby: STANDBY,
    secrets: [secret, Buffer.from(secret, 'base64').toString('hex'), wrong, bind.keys['admin-key'].secret],
    readValues: (s) => [s.routing.address ?? ''],
    observed: (s) => [s.routing.address ?? ''],
    expectWritesMatch(writes, plan) {
      expect(writes).toHaveLength(1);
      const msg = decodeWire(writes[0] as Buffer);
      const req = plan.request as { zone: string; updates: { name: string; ttl?: number; value?: string }[]; tsig: { key: string } };
      expect(msg.opcode).toBe(5);
      expect(msg.zone).toEqual([{ name: req.zone, type: DNS_TYPE.SOA, cls: DNS_CLASS.IN }]);
      // The prerequisite on the epoch (a fresh case has none: name not in use), then delete the RRset, add the one
      // record, and replace the epoch with the fencing token; all in this one message.
      const epoch = `_pf-epoch.${record}`;
      expect(msg.answers).toHaveLength(1);
      expect({ ...msg.answers[0], offset: 0, rdata: msg.answers[0].rdata.length }).toEqual({ offset: 0, name: epoch, type: DNS_TYPE.ANY, cls: DNS_CLASS.NONE, ttl: 0, rdata: 0 });
      expect(msg.authorities).toHaveLength(4);
      const [del, add, delEpoch, addEpoch] = msg.authorities;
      expect({ ...del, offset: 0, rdata: del.rdata.length }).toEqual({ offset: 0, name: record, type: DNS_TYPE.A, cls: DNS_CLASS.ANY, ttl: 0, rdata: 0 });
      expect({ ...add, offset: 0, rdata: [...add.rdata] }).toEqual({ offset: 0, name: record, type: DNS_TYPE.A, cls: DNS_CLASS.IN, ttl: req.updates[1].ttl, rdata: [...ipv4Bytes(req.updates[1].value ?? '')] });
      expect({ ...delEpoch, offset: 0, rdata: delEpoch.rdata.length }).toEqual({ offset: 0, name: epoch, type: DNS_TYPE.TXT, cls: DNS_CLASS.ANY, ttl: 0, rdata: 0 });
      expect({ ...addEpoch, offset: 0, rdata: 0 }).toEqual({ offset: 0, name: epoch, type: DNS_TYPE.TXT, cls: DNS_CLASS.IN, ttl: 60, rdata: 0 });
      // The one value plan() cannot know: one character-string, the fencing token of apply's context.
      expect(addEpoch.rdata[0]).toBe(addEpoch.rdata.length - 1);
      expect(addEpoch.rdata.subarray(1).toString()).toMatch(/^\d{1,16}$/);
      expect(msg.additionals).toHaveLength(1);
      expect(msg.additionals[0]).toMatchObject({ name: req.tsig.key, type: DNS_TYPE.TSIG, cls: DNS_CLASS.ANY });
    },
    async newCase(logger) {
      await adminSet(bind, record, 'A', PRIMARY, logger);
      const proxy = await startDnsTcpProxy({ host: bind.host, port: bind.port });
      return {
        provider: rfc2136Step(bind, { server: proxy.server }, secret, logger),
        observe: () => queryA(bind.host, bind.port, record),
        writes: async () => proxy.messages.filter((m) => ((m.readUInt16BE(2) >> 11) & 0xf) === 5),
        requests: () => proxy.messages.length,
        tamper: () => adminSet(bind, record, 'A', { name: 'elsewhere', routing: { address: TAMPERED } }, logger),
        withTtl: (ttl) => rfc2136Step(bind, { server: proxy.server, ttl }, secret, logger),
        close: () => proxy.close(),
      };
    },
    async unreachable(logger) {
      const port = await closedPort();
      return { provider: rfc2136Step(bind, { server: `127.0.0.1:${port}` }, secret, logger), retryable: true, mentions: 'ECONNREFUSED' };
    },
    wrongCredential: (logger) => rfc2136Step(bind, {}, wrong, logger),
    close: () => bind.stop(),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// rfc2136 against Knot DNS: the same harness as for BIND, with the same keys, zones and rights written as Knot ACLs.

/** Knot with the rights startConformanceBind gives: ACL rules with update-type and exact update-owner-name. */
export async function startConformanceKnot(): Promise<KnotServer> {
  return startKnot({
    keys: CONFORMANCE_KEYS,
    zones: [
      {
        name: RFC2136_ZONE,
        records: CONFORMANCE_RECORDS,
        acl: [
          // One rule must allow a whole update, so each names the record and its epoch TXT.
          { key: 'failover-key', types: ['A', 'AAAA', 'TXT'], names: ['www', '_pf-epoch.www'] },
          { key: 'failover-key', types: ['AAAA', 'TXT'], names: ['v6', '_pf-epoch.v6'] },
          { key: 'failover-key', types: ['CNAME', 'TXT'], names: ['portal', '_pf-epoch.portal'] },
          { key: 'failover-key-512', types: ['A', 'TXT'], names: ['www', '_pf-epoch.www'] },
          { key: 'admin-key' },
        ],
      },
      // Served and readable with the key (Knot finds a key's secret through the zone's ACL), but no rule allows
      // updates: updates are denied (NOTAUTH/BADKEY from Knot).
      { name: 'locked.example', records: ['www IN A 192.0.2.10'], acl: [{ key: 'failover-key', action: 'query' }] },
    ],
  });
}

export const rfc2136KnotHarness = (): Promise<Harness> => rfc2136Harness(startConformanceKnot);

// ---------------------------------------------------------------------------------------------------------------

export function haproxyStep(socket: string, logger: Logger, raw: Record<string, unknown> = {}): TrafficProvider {
  const step = haproxyProvider.schema(makeFields({})).parse({
    kind: 'haproxy',
    socket,
    backend: 'be_portal',
    servers: { primary: 'primary', standby: 'standby' },
    timeout: '3s',
    ...raw,
  });
  return haproxyProvider.create(step, { logger });
}

export async function resetHaproxy(h: HaproxyServer): Promise<void> {
  for (const cmd of ['set server be_portal/primary state ready', 'set server be_portal/standby state maint']) {
    const reply = await h.command(cmd);
    if (reply.trim() !== '') throw new Error(`${cmd}: ${reply}`);
  }
}

export async function haproxyHarness(): Promise<Harness> {
  const h = await startHaproxy({ initiallyMaint: ['standby'] });
  const states = (s: TargetSite) => (s.name === 'primary' ? ['primary=ready', 'standby=maint'] : ['primary=maint', 'standby=ready']);
  return {
    kind: 'haproxy',
    primary: PRIMARY,
    standby: STANDBY,
    secrets: [],
    readValues: states,
    // Which server a real request through the frontend reaches.
    observed: (s) => [s.name],
    expectWritesMatch(writes, plan) {
      expect(plan.request.commands).toEqual(['set server be_portal/standby state ready', 'set server be_portal/primary state maint']);
      expect(writes).toEqual(plan.request.commands);
    },
    async newCase(logger) {
      await resetHaproxy(h);
      const recorder = await startCommandRecorder({ host: '127.0.0.1', port: h.adminPort });
      return {
        provider: haproxyStep(recorder.socket, logger),
        observe: async () => [await h.servedBy()],
        writes: async () => recorder.commands.filter((c) => c.startsWith('set ')),
        requests: () => recorder.commands.length,
        // Both servers in maintenance: the frontend has nobody to send traffic to.
        tamper: async () => {
          await h.command('set server be_portal/standby state maint');
          await h.command('set server be_portal/primary state maint');
        },
        close: () => recorder.close(),
      };
    },
    async unreachable(logger) {
      const gone = path.join(h.dir, 'gone.sock');
      return { provider: haproxyStep(`unix:${gone}`, logger), retryable: true, mentions: `unix:${gone}` };
    },
    close: () => h.stop(),
  };
}

// ---------------------------------------------------------------------------------------------------------------

export const WEBHOOK_PORTAL = 'conformance-portal';

export function webhookStep(raw: Record<string, unknown>, secret: string, logger: Logger): TrafficProvider {
  const step = webhookProvider.schema(makeFields({ WEBHOOK_SECRET: secret })).parse({ kind: 'webhook', secret: '${WEBHOOK_SECRET}', timeout: '3s', portal: WEBHOOK_PORTAL, ...raw });
  return webhookProvider.create(step, { logger });
}

export async function webhookHarness(): Promise<Harness> {
  const secret = `whsec-${randomBytes(16).toString('hex')}`;
  const wrong = `whsec-wrong-${randomBytes(16).toString('hex')}`;
  const receiver: WebhookReceiver = await startWebhookReceiver(secret, 'primary');
  return {
    kind: 'webhook',
    primary: PRIMARY,
    standby: STANDBY,
    secrets: [secret, wrong],
    readValues: (s) => [s.name],
    observed: (s) => [s.name],
    expectWritesMatch(writes, plan) {
      expect(writes).toHaveLength(1);
      const [w] = writes as { method: string; body: string; signatureOk: boolean; headers: Record<string, unknown> }[];
      expect(w.signatureOk).toBe(true);
      expect(w.headers['content-type']).toBe('application/json');
      const { at, fence, ...rest } = JSON.parse(w.body) as { at: string; fence: unknown };
      expect(rest).toEqual(plan.request.body);
      // The fencing token rides inside the signed body, so receivers can refuse an older writer.
      expect(fence).toEqual(Number(w.headers['x-failover-fencing-token']));
      expect(Math.abs(Date.parse(at) - Date.now())).toBeLessThan(60_000);
    },
    async newCase(logger) {
      receiver.site = 'primary';
      const start = receiver.requests.length;
      return {
        provider: webhookStep({ url: receiver.url, verifyUrl: receiver.verifyUrl }, secret, logger),
        observe: async () => [receiver.site ?? ''],
        writes: async () => receiver.requests.slice(start).filter((r) => r.method === 'POST'),
        requests: () => receiver.requests.length - start,
        tamper: async () => {
          receiver.site = 'elsewhere';
        },
        close: async () => undefined,
      };
    },
    async unreachable(logger) {
      const port = await closedPort();
      return { provider: webhookStep({ url: `http://127.0.0.1:${port}/switch`, verifyUrl: `http://127.0.0.1:${port}/state` }, secret, logger), retryable: true, mentions: 'ECONNREFUSED' };
    },
    wrongCredential: (logger) => webhookStep({ url: receiver.url, verifyUrl: receiver.verifyUrl }, wrong, logger),
    close: () => receiver.close(),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Fencing at the DNS server (rfc2136 against BIND and Knot): the epoch TXT and the UPDATE's prerequisite on it.

/** Fencing tokens as lease.ts makes them: floored by the clock in microseconds, 16 digits. */
const T = 1_764_700_000_000_000;

/**
 * A leader writes with token T+10 and sets the epoch; stale leaders with older tokens are then refused: before
 * sending when they read the newer epoch, and by the server itself (the prerequisite) when they read before the
 * newer leader wrote, which is sent past the local check on purpose; a newer token then writes. `server` starts
 * from adminSet's state: www at PRIMARY, no epoch.
 */
export async function expectServerFencing(server: BindServer, logger: Logger): Promise<void> {
  const secret = server.keys['failover-key'].secret;
  const www = `www.${RFC2136_ZONE}.`;
  const epochName = `_pf-epoch.${www}`;
  const at = (token: number): ProviderContext => ({ fence: { token, assertHeld: async () => undefined }, logger });
  const dig = () => queryA(server.host, server.port, www);
  const proxy = await startDnsTcpProxy({ host: server.host, port: server.port });
  const updatesSent = () => proxy.messages.filter((m) => ((m.readUInt16BE(2) >> 11) & 0xf) === 5).length;
  try {
    const p = rfc2136Step(server, { server: proxy.server }, secret, logger);
    const fresh = (await p.read()) as Rfc2136State;
    expect(fresh.epoch).toBeNull();

    // First write: prerequisite "name not in use"; the epoch is set to the writer's token.
    await p.apply(p.plan(fresh, STANDBY), at(T));
    const afterFirst = (await p.read()) as Rfc2136State;
    expect(afterFirst.epoch).toEqual([[String(T)]]);

    // A newer leader (T+10) writes from what it read: prerequisite "epoch is exactly T".
    await p.apply(p.plan(afterFirst, PRIMARY), at(T + 10));
    expect(await dig()).toEqual([PRIMARY.routing.address]);
    expect(((await p.read()) as Rfc2136State).epoch).toEqual([[String(T + 10)]]);
    const sentBefore = updatesSent();

    // A stale leader (T+5) that reads the newer epoch refuses by itself and sends nothing.
    // Stale writes aim at a third address, so an update that got through would show.
    const elsewhere: TargetSite = { name: 'elsewhere', routing: { address: '203.0.113.7' } };
    const local = await rejection(() => p.apply(p.plan({ values: [], epoch: [[String(T + 10)]] } as Rfc2136State, elsewhere), at(T + 5)));
    expect(local.retryable).toBe(false);
    expect(local.message).toContain(`lease lost: ${epochName} holds fencing token ${T + 10}, newer than ours (${T + 5}); a newer leader has written this record, so nothing was sent`);
    expect(updatesSent()).toBe(sentBefore);

    // The race: stale leaders that read before T+10 wrote pass the local check (their tokens are not older than
    // what they read) and send; the server refuses, whether they expected epoch T (NXRRSET) or none (YXDOMAIN).
    for (const [read, rcode] of [[afterFirst, 'NXRRSET'], [fresh, 'YXDOMAIN']] as const) {
      const err = await rejection(() => p.apply(p.plan(read, elsewhere), at(T + 5)));
      expect(err.retryable).toBe(false);
      expect(err.message).toMatch(new RegExp(`lease lost: refused by the DNS server: a newer leader wrote \\(127\\.0\\.0\\.1:\\d+ answered ${rcode}: the epoch record _pf-epoch\\.www\\.portal\\.example\\. was expected`));
      expect(err.message).toMatch(/nothing was changed$/);
    }
    expect(updatesSent()).toBe(sentBefore + 2);
    expect(await dig()).toEqual([PRIMARY.routing.address]);
    expect(((await p.read()) as Rfc2136State).epoch).toEqual([[String(T + 10)]]);

    // A newer leader (T+20) writes.
    await p.apply(p.plan(await p.read(), STANDBY), at(T + 20));
    expect(await dig()).toEqual([STANDBY.routing.address]);
    expect(((await p.read()) as Rfc2136State).epoch).toEqual([[String(T + 20)]]);
  } finally {
    await proxy.close();
  }
}
