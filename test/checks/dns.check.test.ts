import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { probe, type DnsCheckConfig } from '@portal-failover/shared';
import { parseCheck } from '../support/check-config';
import { startDnsTcpProxy, type DnsProxy } from '../support/dns-tcp-proxy';
import { createZone, deleteZone, sharedPowerDns } from '../support/powerdns-server';

/** The dns check against the test PowerDNS (authoritative), over UDP and, for truncated answers, TCP. */

const pdns = sharedPowerDns();
const zone = `dnscheck.${randomBytes(3).toString('hex')}.test.`;
const www = `www.${zone}`;

beforeAll(async () => {
  await createZone(pdns, zone, [
    { name: www, type: 'A', ttl: 30, records: ['192.0.2.10', '192.0.2.11'] },
    { name: `alias.${zone}`, type: 'CNAME', ttl: 30, records: [`Www.${zone}`] },
  ]);
});

afterAll(async () => {
  await deleteZone(pdns, zone);
});

const check = (o: Record<string, unknown> = {}, expect: Record<string, unknown> = {}) =>
  parseCheck<DnsCheckConfig>({ type: 'dns', server: `127.0.0.1:${pdns.dnsPort}`, name: www, recordType: 'A', interval: '5s', timeout: '2s', expect, ...o });

describe('dns check', () => {
  it('is up when the authoritative server answers with the expected records, in any order', async () => {
    expect(await probe(check({}, { authoritative: true, nonEmpty: true, answers: ['192.0.2.11', '192.0.2.10'] }))).toMatchObject({ ok: true });
    expect(await probe(check({ name: `alias.${zone}`, recordType: 'CNAME' }, { answers: [`WWW.${zone}`] }))).toMatchObject({ ok: true });
  });

  it('is down when the answers changed (the delegation or record moved), naming both sets', async () => {
    const out = await probe(check({}, { answers: ['192.0.2.10'] }));
    expect(out).toMatchObject({ ok: false, reason: 'dns' });
    expect(out.detail).toContain('answers [192.0.2.10, 192.0.2.11], expected [192.0.2.10]');
  });

  it('is down on NXDOMAIN, on an empty answer when nonEmpty, and on REFUSED for a zone the server dropped', async () => {
    const nx = await probe(check({ name: `missing.${zone}` }));
    expect(nx).toMatchObject({ ok: false, reason: 'dns' });
    expect(nx.detail).toMatch(/rcode NXDOMAIN, expected NOERROR/);
    expect(await probe(check({ recordType: 'AAAA' }, { nonEmpty: true }))).toMatchObject({ ok: false, reason: 'dns', detail: expect.stringMatching(/no AAAA records/) });
    const other = await probe(check({ name: `www.not-served-${randomBytes(3).toString('hex')}.example.` }));
    expect(other).toMatchObject({ ok: false, reason: 'dns' });
    expect(other.detail).toMatch(/rcode (REFUSED|NXDOMAIN|SERVFAIL)/);
  });

  it('is down with a timeout when nothing answers', async () => {
    const silent = dgram.createSocket('udp4');
    await new Promise<void>((r) => silent.bind(0, '127.0.0.1', () => r()));
    try {
      const out = await probe(check({ server: `127.0.0.1:${silent.address().port}`, timeout: '300ms' }));
      expect(out).toMatchObject({ ok: false, reason: 'timeout' });
    } finally {
      silent.close();
    }
  });

  describe('TCP fallback', () => {
    let proxy: DnsProxy;
    let truncating: dgram.Socket;

    beforeAll(async () => {
      // TCP goes to PowerDNS through a recording proxy; UDP on the same port answers every question truncated.
      proxy = await startDnsTcpProxy({ host: '127.0.0.1', port: pdns.dnsPort });
      truncating = dgram.createSocket('udp4');
      truncating.on('message', (msg, from) => {
        const reply = Buffer.from(msg);
        reply[2] = (reply[2] | 0x80 | 0x02) & ~0x01; // QR and TC set, RD cleared
        truncating.send(reply, from.port, from.address);
      });
      await new Promise<void>((resolve, reject) => {
        truncating.once('error', reject);
        truncating.bind(proxy.port, '127.0.0.1', () => resolve());
      });
    });

    afterAll(async () => {
      truncating?.close();
      await proxy?.close();
    });

    it('asks again over TCP when the UDP answer is truncated', async () => {
      const out = await probe(check({ server: `127.0.0.1:${proxy.port}` }, { answers: ['192.0.2.10', '192.0.2.11'], authoritative: true }));
      expect(out).toMatchObject({ ok: true });
      expect(proxy.messages).toHaveLength(1);
    });
  });
});
