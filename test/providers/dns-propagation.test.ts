import { executeOperation } from '@portal-failover/controller';
import { createProvider, parseConfig, zoneNameservers, type FenceGuard, type TrafficProvider } from '@portal-failover/shared';
import { operationDetail } from '../../cli/src/commands/operation';
import { startBind, type BindServer } from '../support/bind-server';
import { captureLogger } from '../support/capture-logger';
import { freeTcpUdpPort } from '../support/free-port';
import { pdnsRequest, queryA, startPowerDns, type PowerDnsServer } from '../support/powerdns-server';
import { PRIMARY, STANDBY } from './harnesses';
import { runningOperation } from './test-kit';

/**
 * Issue 10 item 6 on real servers: a powerdns step switches a record on a PowerDNS primary, whose BIND secondary
 * gets it by NOTIFY + zone transfer. The operation records when each authoritative nameserver served the new answer,
 * that a third listed nameserver (a free UDP port nobody answers on) did not, and until when caches may hold the old
 * answer; the switch succeeds all the same.
 */

const ZONE = 'prop.example';
const RECORD = `www.${ZONE}.`;
const OLD_TTL = 300;
const capture = captureLogger();
let pdns: PowerDnsServer;
let bind: BindServer;
let deadPort: number;

beforeAll(async () => {
  // primary=yes: pdns serves AXFR and NOTIFYs secondaries; xfr-cycle-interval=1 makes it notice the API's serial
  // bump within a second instead of the default minute, so the secondary's lag is short but real.
  pdns = await startPowerDns({ extraConfig: ['primary=yes', 'xfr-cycle-interval=1'] });
  await pdnsRequest(pdns, 'POST', '/zones', {
    name: `${ZONE}.`,
    kind: 'Master',
    nameservers: [`ns1.${ZONE}.`],
    rrsets: [
      { name: `ns1.${ZONE}.`, type: 'A', ttl: 3600, records: [{ content: '127.0.0.1', disabled: false }] },
      { name: RECORD, type: 'A', ttl: OLD_TTL, records: [{ content: PRIMARY.routing.address, disabled: false }] },
    ],
  });
  bind = await startBind({ keys: [], zones: [{ name: ZONE, records: [], primaries: [`127.0.0.1 port ${pdns.dnsPort}`] }] });
  await pdnsRequest(pdns, 'PUT', `/zones/${ZONE}./metadata/ALSO-NOTIFY`, { metadata: [`127.0.0.1:${bind.port}`] });
  deadPort = await freeTcpUdpPort('127.0.0.1');
  while (deadPort === pdns.dnsPort || deadPort === bind.port) deadPort = await freeTcpUdpPort('127.0.0.1');
}, 60_000);

afterAll(async () => {
  await bind?.stop();
  await pdns?.stop();
});

function step(): TrafficProvider {
  const sites = [PRIMARY, STANDBY].map((s) => ({
    ...s,
    provider: s.name,
    checks: [{ type: 'tcp', host: s.routing.address, port: 443, interval: '5s', timeout: '1s' }],
  }));
  const raw = {
    portals: [
      {
        id: 'dvc-hanoi',
        name: 'Hà Nội',
        sites,
        traffic: [
          {
            kind: 'powerdns',
            apiUrl: pdns.apiUrl,
            apiKey: '${PDNS_KEY}',
            zone: ZONE,
            record: RECORD,
            type: 'A',
            ttl: 30,
            verify: {
              nameservers: [`127.0.0.1:${pdns.dnsPort}`, bind.server, `127.0.0.1:${deadPort}`],
              resolvers: [`127.0.0.1:${pdns.dnsPort}`],
              timeout: '4s',
            },
          },
        ],
      },
    ],
  };
  const config = parseConfig(raw, 'test.yaml', { PDNS_KEY: pdns.apiKey });
  return createProvider(config.portals[0].traffic[0], { logger: capture.logger });
}

const fence: FenceGuard = { token: 1, assertHeld: async () => undefined };

describe('propagation after a DNS switch (PowerDNS primary, BIND secondary by AXFR)', () => {
  it('records when each nameserver served the new answer, a silent one as not propagated, and the old-TTL horizon', async () => {
    // The secondary starts with the primary's copy: the old answer is what it serves before the switch.
    expect(await queryA('127.0.0.1', bind.port, RECORD)).toEqual([PRIMARY.routing.address]);

    const before = Date.now();
    const op = await executeOperation(runningOperation('powerdns'), [step()], STANDBY, fence, {
      attempts: 2,
      backoffMs: 10,
      logger: capture.logger,
      save: async () => undefined,
    });
    const after = Date.now();

    // A nameserver that never answers does not fail the switch: traffic moved at the source of truth.
    expect(op.status).toBe('succeeded');
    const p = op.steps[0].propagation;
    expect(p).toBeDefined();
    if (!p) return;
    expect(p).toMatchObject({ record: RECORD, type: 'A', value: STANDBY.routing.address, timeoutMs: 4000, oldTtl: OLD_TTL });
    expect(p.appliedAt).toBeGreaterThanOrEqual(before);
    expect(p.appliedAt).toBeLessThanOrEqual(after);
    expect(p.oldAnswerUntil).toBe(p.appliedAt + OLD_TTL * 1000);

    const [primary, secondary, silent, resolver] = p.servers;
    expect(primary).toMatchObject({ server: `127.0.0.1:${pdns.dnsPort}`, role: 'authoritative', propagated: true });
    expect(secondary).toMatchObject({ server: bind.server, role: 'authoritative', propagated: true });
    expect(silent).toEqual({
      server: `127.0.0.1:${deadPort}`,
      role: 'authoritative',
      propagated: false,
      detail: `not serving ${STANDBY.routing.address} within 4000ms: no answer`,
    });
    expect(resolver).toMatchObject({ server: `127.0.0.1:${pdns.dnsPort}`, role: 'resolver', propagated: true });
    // The secondary only has it after NOTIFY and a transfer, so it cannot be earlier than the primary.
    expect(secondary.afterMs).toBeGreaterThanOrEqual(primary.afterMs ?? Infinity);
    expect(secondary.afterMs).toBeLessThan(4000);
    console.log(`propagation: primary ${primary.afterMs}ms, BIND secondary ${secondary.afterMs}ms`);

    // What the record says is what the servers serve now.
    expect(await queryA('127.0.0.1', bind.port, RECORD)).toEqual([STANDBY.routing.address]);

    // The switch's duration ends at the verified step, not after the propagation wait.
    expect(op.finishedAt).toBeLessThan(p.appliedAt + 4000);
    expect(capture.text()).toContain(`authoritative 127.0.0.1:${deadPort}: NOT propagated`);

    const text = operationDetail({ ...op, steps: op.steps.map((s) => ({ ...s })) });
    expect(text).toContain(`Propagation of step 1 (${RECORD} A ${STANDBY.routing.address}):`);
    expect(text).toContain(`authoritative ${bind.server}: new answer after `);
    expect(text).toContain(`authoritative 127.0.0.1:${deadPort}: NOT propagated (not serving ${STANDBY.routing.address} within 4000ms: no answer)`);
    expect(text).toContain(`resolvers may hold the old answer until ${new Date(p.oldAnswerUntil ?? 0).toISOString().replace(/\.\d{3}Z$/, 'Z')} (apply time + old TTL ${OLD_TTL}s)`);
  }, 30_000);

  it("finds the zone's nameservers from the NS records of the closest enclosing zone when none are listed", async () => {
    // www.prop.example has no NS of its own; prop.example's NS is ns1.prop.example, whose A is 127.0.0.1.
    expect(await zoneNameservers(RECORD, [`127.0.0.1:${pdns.dnsPort}`])).toEqual([{ host: '127.0.0.1', port: 53 }]);
    await expect(zoneNameservers('www.nowhere.invalid.', [`127.0.0.1:${pdns.dnsPort}`])).rejects.toThrow("looking up NS records of www.nowhere.invalid: EREFUSED");
  });
});
