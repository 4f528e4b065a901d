import { X509Certificate } from 'node:crypto';
import net from 'node:net';
import { probe, spkiSha256, type HttpCheckConfig, type TlsCheckConfig } from '@portal-failover/shared';
import { parseCheck } from '../support/check-config';
import { PortalSite } from '../support/portal-site';
import { TestPki, type IssuedCert } from '../support/test-pki';

/**
 * The tls check and the http check's certificate expectations against a real HTTPS server whose certificates
 * are made in the test by a throw-away CA (openssl): the portal's own certificate, an expired one, one ten days
 * from expiry, a hosting provider's self-signed one, one for another name.
 */

let pki: TestPki;
let site: PortalSite;
let good: IssuedCert;
let expiring: IssuedCert;
let expired: IssuedCert;
let provider: IssuedCert;
let otherName: IssuedCert;

beforeAll(async () => {
  pki = await TestPki.create('Portal Test CA');
  [good, expiring, expired, provider, otherName] = await Promise.all([
    pki.issueForDays('portal.test', 90),
    pki.issueForDays('portal.test', 10),
    pki.issueForDays('portal.test', -2),
    pki.selfSigned('Hosting Provider Suspension Proxy'),
    pki.issueForDays('someone-else.test', 90, ['DNS:someone-else.test']),
  ]);
  site = await PortalSite.start(good);
});

afterAll(async () => {
  await site?.close();
  await pki?.remove();
});

function tlsCheck(expect: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): TlsCheckConfig {
  return parseCheck<TlsCheckConfig>({ type: 'tls', host: '127.0.0.1', port: site.port, ca: pki.caCertPath, interval: '10s', timeout: '3s', expect, ...extra });
}

const pinOf = (c: IssuedCert) => spkiSha256(new X509Certificate(c.cert));

describe('tls check', () => {
  afterEach(() => site.setCertificate(good));

  it('passes the portal certificate from the configured CA and reports its expiry', async () => {
    const out = await probe(tlsCheck({ issuer: 'Portal Test CA' }));
    expect(out).toMatchObject({ ok: true });
    expect(out.warning).toBeUndefined();
    expect(out.certExpiresAt).toBe(Date.parse(new X509Certificate(good.cert).validTo));
  });

  it('is down on the hosting provider self-signed certificate, naming its issuer', async () => {
    site.setCertificate(provider);
    const out = await probe(tlsCheck());
    expect(out).toMatchObject({ ok: false, reason: 'tls' });
    expect(out.detail).toContain('Hosting Provider Suspension Proxy');
    expect(out.detail).toMatch(/does not verify/);
  });

  it('is down on an expired certificate', async () => {
    site.setCertificate(expired);
    const out = await probe(tlsCheck());
    expect(out).toMatchObject({ ok: false, reason: 'tls' });
    expect(out.detail).toMatch(/expired/);
    expect(out.certExpiresAt).toBeLessThan(Date.now());
  });

  it('warns, and stays up, ten days from expiry', async () => {
    site.setCertificate(expiring);
    const out = await probe(tlsCheck({ minDaysLeft: 14 }));
    expect(out.ok).toBe(true);
    expect(out.warning).toMatch(/expires in (9|10) days/);
    const quiet = await probe(tlsCheck({ minDaysLeft: 7 }));
    expect(quiet).toMatchObject({ ok: true, warning: undefined });
  });

  it('is down when the certificate is for another name', async () => {
    site.setCertificate(otherName);
    const out = await probe(tlsCheck());
    expect(out).toMatchObject({ ok: false, reason: 'tls' });
    expect(out.detail).toMatch(/127\.0\.0\.1/);
    expect(await probe(tlsCheck({}, { serverName: 'someone-else.test' }))).toMatchObject({ ok: true });
  });

  it('matches the issuer by common name or by full distinguished name', async () => {
    expect(await probe(tlsCheck({ issuer: 'CN=Portal Test CA, O=Portal Failover Tests' }))).toMatchObject({ ok: true });
    const wrong = await probe(tlsCheck({ issuer: 'Other CA' }));
    expect(wrong).toMatchObject({ ok: false, reason: 'tls' });
    expect(wrong.detail).toContain('expected issuer "Other CA"');
  });

  it('needs one SPKI pin in the chain to match: the leaf or the CA, base64 or hex', async () => {
    const caPin = spkiSha256(new X509Certificate(await pki.caPem()));
    expect(await probe(tlsCheck({ spkiSha256: [pinOf(good)] }))).toMatchObject({ ok: true });
    expect(await probe(tlsCheck({ spkiSha256: [Buffer.from(caPin, 'base64').toString('hex')] }))).toMatchObject({ ok: true });
    const out = await probe(tlsCheck({ spkiSha256: [pinOf(provider)] }));
    expect(out).toMatchObject({ ok: false, reason: 'tls' });
    expect(out.detail).toMatch(/SPKI pins/);
  });

  it('is down with a reason when nothing listens or the peer does not speak TLS', async () => {
    const closed = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const port = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(port));
      });
    });
    expect(await probe({ ...tlsCheck(), port: closed })).toMatchObject({ ok: false, reason: 'refused' });
    const plain = await PortalSite.start();
    try {
      const out = await probe({ ...tlsCheck(), port: plain.port });
      expect(out.ok).toBe(false);
      expect(['tls', 'reset']).toContain(out.reason);
    } finally {
      await plain.close();
    }
  });
});

describe('http check certificate expectations', () => {
  afterEach(() => site.setCertificate(good));

  function httpCheck(expect: Record<string, unknown>, tls: Record<string, unknown> = {}): HttpCheckConfig {
    const base = tlsCheck();
    return {
      type: 'http',
      interval: base.interval,
      timeout: base.timeout,
      url: site.url,
      method: 'GET',
      headers: {},
      maxBodyBytes: 1024 * 1024,
      expect: { status: [200], bodyIncludes: [], bodyExcludes: [], ...expect },
      tls: { verify: true, ca: pki.caCertPath, ...tls },
      redirects: { follow: false, allowOtherHost: false, max: 5 },
    };
  }

  it('checks tlsIssuer and reports the certificate expiry', async () => {
    const ok = await probe(httpCheck({ tlsIssuer: 'Portal Test CA' }));
    expect(ok).toMatchObject({ ok: true, status: 200 });
    expect(ok.certExpiresAt).toBe(Date.parse(new X509Certificate(good.cert).validTo));
    const bad = await probe(httpCheck({ tlsIssuer: 'Another CA' }));
    expect(bad).toMatchObject({ ok: false, reason: 'tls' });
    expect(bad.detail).toContain('Portal Test CA');
  });

  it('with verification off, still refuses a certificate that matches no pin', async () => {
    site.setCertificate(provider);
    expect(await probe(httpCheck({ spkiSha256: [pinOf(provider)] }, { verify: false }))).toMatchObject({ ok: true });
    const out = await probe(httpCheck({ spkiSha256: [pinOf(good)] }, { verify: false }));
    expect(out).toMatchObject({ ok: false, reason: 'tls' });
    expect(out.detail).toContain('Hosting Provider Suspension Proxy');
  });
});
