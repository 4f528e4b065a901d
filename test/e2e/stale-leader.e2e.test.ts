import { Resolver } from 'node:dns/promises';
import fs from 'node:fs';
import { createToken } from '../../services/api/src/auth';
import type { PortalBody } from '../api/support';
import { operationFinished } from '../chaos/operations';
import { startBind, type BindServer } from '../support/bind-server';
import { startApiProcess, startControllerCluster, type ControllerCluster } from '../support/controller-cluster';
import { decodeWire, startDnsTcpProxy, type DnsProxy } from '../support/dns-tcp-proxy';
import { e2eRawConfig, portalFixture, type PortalFixture } from '../support/e2e';
import { waitFor } from '../support/free-port';
import { startKnot, type KnotServer } from '../support/knot-server';
import { queryA, sharedPowerDns } from '../support/powerdns-server';
import type { ServiceProcess } from '../support/processes';
import { startRecordingProxy } from '../support/recording-proxy';

/**
 * Issue #9's acceptance, on real processes: controller A decides a switch (the primary is cut) and is paused
 * (SIGSTOP) with its write on the way, for longer than its lease; controller B takes the lease and completes the
 * switch; an operator switches back through the API; then A's write arrives and A is continued.
 *
 * The write is held in a proxy in front of the server (what a slow network does) and delivered after the switch
 * back: the worst case. A write not yet sent when the pause hits never leaves A (the lease-deadline signal and the
 * provider's own lease check stop it when A runs again; the PowerDNS case "paused right before its PATCH" pauses A
 * there with the failpoint before-write:stop), so the server-side fence is only exercised by a write in flight.
 *
 * BIND and Knot refuse it themselves (the UPDATE's prerequisite on the `_pf-epoch` record no longer holds).
 * PowerDNS has no conditional write and takes it; B's reconciliation reports the drift (audit `drift.detected`)
 * within `reconcileEvery` and, with `onDrift: repair`, puts the recorded site back. Every time the answer over
 * DNS ends on the site the API reports as active.
 */
jest.setTimeout(240_000);

const TSIG_ENV = 'PF_STALE_LEADER_TSIG';
const RECONCILE_EVERY_MS = 2_000;

/** A's write, held on its way to the server until the test delivers it. */
interface InFlightWrite {
  isHeld(): boolean;
  /** What the held write asks for: the address it would set. */
  heldAddress(): string;
  /** Lets it through; resolves with the server's answer to it (an rcode name, an HTTP status). */
  deliver(): Promise<string>;
}

interface Setup {
  traffic: (p: PortalFixture) => Record<string, unknown>[];
  env?: NodeJS.ProcessEnv;
  /** The record's A answer over DNS from the server that holds the zone. */
  answer(): Promise<string[]>;
  /** Holds A's write on its way; without it A stops itself just before writing (failpoint before-write:stop). */
  holdFirstWrite?(): InFlightWrite;
  policy?: Record<string, unknown>;
  controller?: Record<string, unknown>;
}

interface Outcome {
  stale: ServiceProcess;
  successor: ServiceProcess;
  /** The operation A decided and B completed. */
  operationId: string;
  /** The server's answer to A's write; `not sent` when A was paused before writing. */
  verdict: string;
  deliveredAt: number;
  /** B's fencing token (the lease's). */
  successorToken: number;
  /** GET a path of the API as the operator. */
  get<T>(path: string): Promise<T>;
}

let cluster: ControllerCluster | undefined;
let api: { svc: ServiceProcess; url: string } | undefined;
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  await api?.svc.stop();
  await cluster?.stop();
  api = undefined;
  cluster = undefined;
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** The state letter of /proc/<pid>/stat: T once a process is stopped. */
function processState(pid: number): string {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
}

const dnsAnswer = (server: { host: string; port: number }, name: string) => () => queryA(server.host, server.port, name);

async function epochOf(server: { host: string; port: number }, record: string): Promise<string[][]> {
  const r = new Resolver({ timeout: 2000, tries: 2 });
  r.setServers([`${server.host}:${server.port}`]);
  return r.resolveTxt(`_pf-epoch.${record}`.replace(/\.$/, ''));
}

/** Holds the first UPDATE that passes the DNS proxy. */
function holdFirstUpdate(proxy: DnsProxy): InFlightWrite {
  let held: Buffer | undefined;
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  proxy.hold = (msg) => {
    if (held || decodeWire(msg).opcode !== 5) return undefined;
    held = msg;
    return gate;
  };
  const RCODES: Record<number, string> = { 0: 'NOERROR', 2: 'SERVFAIL', 5: 'REFUSED', 6: 'YXDOMAIN', 7: 'YXRRSET', 8: 'NXRRSET', 9: 'NOTAUTH' };
  return {
    isHeld: () => held !== undefined,
    heldAddress: () => [...decodeWire(held!).authorities[1].rdata].join('.'),
    deliver: async () => {
      const id = decodeWire(held!).id;
      release();
      const answer = await waitFor(() => proxy.answers.find((a) => a.readUInt16BE(0) === id && decodeWire(a).opcode === 5), {
        timeoutMs: 10_000,
        what: 'the server to answer the delivered UPDATE',
      });
      const rcode = decodeWire(answer).rcode;
      return RCODES[rcode] ?? `rcode ${rcode}`;
    },
  };
}

async function pausedLeader(fx: PortalFixture, s: Setup): Promise<Outcome> {
  const operator = createToken('olga-operator', 'operator');
  const raw = e2eRawConfig([fx], {
    traffic: s.traffic,
    policy: s.policy,
    controller: { leaseTtl: '2s', renewEvery: '500ms', ...s.controller },
  });
  (raw.api as Record<string, unknown>).tokens = [operator.record];
  const failpoints = s.holdFirstWrite ? {} : { FAILOVER_FAILPOINTS: 'before-write:stop' };
  cluster = await startControllerCluster(raw, { controllers: [failpoints, {}], firstLeads: true, env: s.env, healthy: [fx.id], timeoutMs: 60_000 });
  const c = cluster;
  const [stale, successor] = c.controllers;
  expect(await c.leader()).toBe(stale);
  api = await startApiProcess(c.file, s.env);
  const { url } = api;
  const call = (method: 'GET' | 'POST', path: string, body?: unknown) =>
    fetch(`${url}${path}`, { method, headers: { authorization: `Bearer ${operator.token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  const get = async <T>(path: string): Promise<T> => {
    const res = await call('GET', path);
    if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  };

  // A decides primary -> standby; the moment its write is on the way (or just before it), A is paused.
  const write = s.holdFirstWrite?.();
  await fx.primary.setMode({ kind: 'refuse' });
  if (write) {
    await waitFor(() => write.isHeld(), { timeoutMs: 30_000, intervalMs: 20, what: 'the leader to send its write' });
    stale.child.kill('SIGSTOP');
    expect(write.heldAddress()).toBe(fx.standbyAddress);
  } else {
    await waitFor(() => stale.output().includes('failpoint before-write: stopping') && processState(stale.child.pid!) === 'T', {
      timeoutMs: 30_000,
      intervalMs: 20,
      what: 'the leader to stop itself before its write',
    });
  }
  const inflight = await waitFor(async () => (await c.store.loadState(fx.id))?.inflight, { timeoutMs: 10_000, what: 'the operation recorded in flight' });
  const operationId = inflight.operationId;

  // A's lease runs out; B takes it and resumes the operation from what A saved.
  await waitFor(async () => (await c.leader()) === successor, { timeoutMs: 30_000, what: 'the second controller to take the lease' });
  const resumed = await operationFinished(c.store, operationId, 'resumed by the second controller');
  expect(resumed).toMatchObject({ status: 'succeeded', from: 'primary', to: 'standby', resumedCount: 1 });
  expect(successor.output()).toContain(`resuming operation ${operationId}`);
  expect(await s.answer()).toEqual([fx.standbyAddress]);

  // The primary is back; an operator switches back (409 until the primary is up by quorum again).
  await fx.primary.setMode({ kind: 'ok' });
  let last = '';
  const back = await waitFor(
    async () => {
      const res = await call('POST', `/api/v1/portals/${fx.id}/switchover`, { to: 'primary', reason: 'primary restored, switching back' });
      last = `${res.status} ${await res.clone().text()}`;
      return res.status === 202 ? ((await res.json()) as { id: string }) : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 500, what: 'the switch back to be accepted' },
  ).catch((err: Error) => {
    throw new Error(`${err.message}; last answer: ${last}`);
  });
  expect(await operationFinished(c.store, back.id, 'the switch back')).toMatchObject({ status: 'succeeded', to: 'primary', trigger: 'manual' });
  expect(await s.answer()).toEqual([fx.primaryAddress]);
  const successorToken = Number((await c.redis.get(c.keys.lease))?.split('|').pop());

  // A's write arrives now, then A runs again.
  const verdict = write ? await write.deliver() : 'not sent';
  const deliveredAt = Date.now();
  stale.child.kill('SIGCONT');
  await waitFor(() => stale.output().includes(`operation ${operationId} interrupted`), { timeoutMs: 20_000, what: 'the continued controller to give the operation up' });
  return { stale, successor, operationId, verdict, deliveredAt, successorToken, get };
}

/** The recorded active site (the API) is the primary, nothing in flight, and DNS answers with its address. */
async function expectAnswerIsRecordedSite(fx: PortalFixture, s: Setup, o: Outcome): Promise<void> {
  const portal = await waitFor(
    async () => {
      const p = await o.get<PortalBody>(`/api/v1/portals/${fx.id}`);
      return p.operationInFlight === null ? p : undefined;
    },
    { timeoutMs: 20_000, what: 'nothing in flight' },
  );
  expect(portal.activeSite).toBe('primary');
  expect(await s.answer()).toEqual([fx.primaryAddress]);
  // A stays a follower: it never took the lease back.
  expect(o.stale.output().match(/became leader/g)).toHaveLength(1);
}

describe.each([
  {
    server: 'BIND',
    // A fresh record: no epoch yet, so A's UPDATE requires the epoch name not to be in use.
    seedEpoch: false,
    rcode: 'YXDOMAIN',
    start: async (zone: string, record: string, primary: string) =>
      startBind({
        keys: [{ name: 'failover-key', algorithm: 'hmac-sha256' }],
        zones: [{ name: zone, records: [`www IN A ${primary}`], updatePolicy: [`grant failover-key name ${record} A;`, `grant failover-key name _pf-epoch.${record} TXT;`] }],
      }),
    refusalInLog: (zone: string) => new RegExp(`updating zone '${zone.replace(/\./g, '\\.')}/IN': update unsuccessful: _pf-epoch\\.www\\.${zone.replace(/\./g, '\\.')}: 'name not in use' prerequisite not satisfied \\(YXDOMAIN\\)`),
  },
  {
    server: 'Knot',
    // An epoch from an earlier leader: A's UPDATE requires exactly that value.
    seedEpoch: true,
    rcode: 'NXRRSET',
    start: async (zone: string, _record: string, primary: string) =>
      startKnot({
        keys: [{ name: 'failover-key', algorithm: 'hmac-sha256' }],
        zones: [{ name: zone, records: [`www IN A ${primary}`, '_pf-epoch.www IN TXT "1"'], acl: [{ key: 'failover-key', types: ['A', 'TXT'], names: ['www', '_pf-epoch.www'] }] }],
      }),
    refusalInLog: () => /DDNS, incoming, remote 127\.0\.0\.1@\d+, prerequisites not met \(UPDATE prerequisite not met\)\n.*DDNS, finished, no changes to the zone were made/,
  },
])('rfc2136 with $server', ({ server: name, seedEpoch, rcode, start, refusalInLog }) => {
  it(`a paused leader's late UPDATE is refused by ${name} (${rcode}); DNS ends on the recorded site`, async () => {
    const fx = await portalFixture(`stale-${name.toLowerCase()}`);
    cleanups.push(() => fx.primary.close(), () => fx.standby.close());
    const zone = fx.zone.replace(/\.$/, '');
    const server: BindServer | KnotServer = await start(zone, fx.record, fx.primaryAddress);
    cleanups.push(() => server.stop());
    const proxy = await startDnsTcpProxy({ host: server.host, port: server.port });
    cleanups.push(() => proxy.close());
    const setup: Setup = {
      env: { [TSIG_ENV]: server.keys['failover-key'].secret },
      traffic: (p) => [
        { kind: 'rfc2136', server: proxy.server, zone: p.zone, record: p.record, type: 'A', ttl: 30, timeout: '1s', tsig: { name: 'failover-key', algorithm: 'hmac-sha256', secret: `\${${TSIG_ENV}}` } },
      ],
      answer: dnsAnswer(server, fx.record),
      holdFirstWrite: () => holdFirstUpdate(proxy),
    };
    expect(await epochOf(server, fx.record).catch(() => [])).toEqual(seedEpoch ? [['1']] : []);

    const o = await pausedLeader(fx, setup);

    // The server itself refused A's UPDATE, and nothing it carried is in the zone: B's epoch, the operator's address.
    expect(o.verdict).toBe(rcode);
    expect(server.log()).toMatch(refusalInLog(zone));
    expect(await epochOf(server, fx.record)).toEqual([[String(o.successorToken)]]);
    await expectAnswerIsRecordedSite(fx, setup, o);
    // Nothing reports drift: the refused write changed nothing.
    const drift = await o.get<{ entries: unknown[] }>(`/api/v1/audit?portal=${fx.id}&type=drift.detected`);
    expect(drift.entries).toEqual([]);
  });
});

describe('powerdns', () => {
  type Entry = { at: string; type: string; actor: string; operation?: string; data?: Record<string, unknown> };
  const auditOf = (o: Outcome, portal: string) => async (type: string) => (await o.get<{ entries: Entry[] }>(`/api/v1/audit?portal=${portal}&type=${type}`)).entries;

  async function pdnsPortal(id: string) {
    const fx = await portalFixture(id);
    cleanups.push(() => fx.primary.close(), () => fx.standby.close());
    const proxy = await startRecordingProxy(sharedPowerDns().apiUrl);
    cleanups.push(() => proxy.close());
    const setup: Setup = {
      traffic: (p) => [{ kind: 'powerdns', apiUrl: proxy.url, apiKey: '${TEST_PDNS_API_KEY}', zone: p.zone, record: p.record, type: 'A', ttl: 30, timeout: '1s' }],
      answer: () => fx.answer(),
      policy: { onDrift: 'repair' },
      controller: { reconcileEvery: `${RECONCILE_EVERY_MS}ms` },
    };
    return { fx, proxy, setup, zonePath: encodeURIComponent(fx.zone) };
  }

  it('a leader paused right before its PATCH never sends it once it runs again', async () => {
    const { fx, proxy, setup, zonePath } = await pdnsPortal('stale-pdns-unsent');
    const o = await pausedLeader(fx, setup);

    expect(o.verdict).toBe('not sent');
    // PowerDNS saw B's two writes (the resumed switch, the switch back) and nothing from A.
    const written = proxy.writes(zonePath).map((r) => (JSON.parse(r.body) as { rrsets: { records: { content: string }[] }[] }).rrsets[0].records[0].content);
    expect(written).toEqual([fx.standbyAddress, fx.primaryAddress]);
    // Nothing may have landed, so nothing is reported as such, and there is no drift.
    const audit = auditOf(o, fx.id);
    expect(o.stale.output()).toMatch(new RegExp(`operation ${o.operationId} interrupted: lease with fencing token \\d+ is no longer held`));
    expect(await audit('operation.interrupted')).toEqual([]);
    await expectAnswerIsRecordedSite(fx, setup, o);
    expect(await audit('drift.detected')).toEqual([]);
  });

  it(`a paused leader's late PATCH lands; the new leader reports the drift within reconcileEvery and repairs it`, async () => {
    const { fx, proxy, setup: base, zonePath } = await pdnsPortal('stale-pdns');
    const setup: Setup = {
      ...base,
      holdFirstWrite: () => {
        let held: { body: string; status?: number } | undefined;
        let release!: () => void;
        const gate = new Promise<void>((r) => (release = r));
        proxy.hooks = {
          beforeForward: (r) => {
            if (held || r.method !== 'PATCH' || !r.path.includes(zonePath)) return undefined;
            held = r;
            return gate;
          },
        };
        return {
          isHeld: () => held !== undefined,
          heldAddress: () => (JSON.parse(held!.body) as { rrsets: { records: { content: string }[] }[] }).rrsets[0].records[0].content,
          deliver: async () => {
            release();
            return String(await waitFor(() => held!.status, { timeoutMs: 10_000, what: 'PowerDNS to answer the delivered PATCH' }));
          },
        };
      },
    };

    const o = await pausedLeader(fx, setup);

    // PowerDNS took the stale write: for a moment the record routes to the standby again.
    expect(o.verdict).toBe('204');
    const audit = auditOf(o, fx.id);
    // A reports the write it cannot vouch for.
    const interrupted = await waitFor(async () => (await audit('operation.interrupted')).find((e) => e.operation === o.operationId), {
      timeoutMs: 10_000,
      what: 'operation.interrupted from the continued controller',
    });
    expect(interrupted.data).toMatchObject({ mayHaveLanded: true });
    // B sees it at its next reconciliation and reports it...
    const drift = await waitFor(async () => (await audit('drift.detected')).find((e) => Date.parse(e.at) >= o.deliveredAt - 1_000), {
      timeoutMs: 20_000,
      what: 'drift.detected',
    });
    // The stale write's address is the standby's: the drift names the site it routes to.
    expect(drift.data).toMatchObject({ recorded: 'primary', observed: 'standby', onDrift: 'repair' });
    expect(drift.actor).toContain(`controller:${o.successor.child.pid}-`);
    // ...within reconcileEvery of the write landing (plus scheduling slack on a loaded machine).
    const detectedAfter = Date.parse(drift.at) - o.deliveredAt;
    expect(detectedAfter).toBeLessThanOrEqual(RECONCILE_EVERY_MS + 3_000);
    // ...and puts the recorded site back.
    await waitFor(async () => (await fx.answer())[0] === fx.primaryAddress, { timeoutMs: 20_000, what: 'the recorded site put back' });
    await expectAnswerIsRecordedSite(fx, setup, o);
    process.stdout.write(`powerdns stale write: drift reported ${detectedAfter} ms after it landed (reconcileEvery ${RECONCILE_EVERY_MS} ms)\n`);
  });
});
