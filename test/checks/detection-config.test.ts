import { ConfigError, parseConfig } from '@portal-failover/shared';
import { rawConfigWithChecks } from '../support/check-config';

/** Issue #10, bad input: each mistake is refused with the path of the field and the reason. */

function problems(checks: unknown[], site: Record<string, unknown> = {}): string[] {
  try {
    parseConfig(rawConfigWithChecks(checks, site), 'test', { TEST_KEY: 'k' });
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.problems.map((p) => `${p.path}: ${p.message}`);
  }
}

const check0 = 'portals[0].sites[0].checks[0]';
const HEX_PIN = 'a'.repeat(64);

describe('tls expectations', () => {
  it('refuses certificate expectations on an http: URL', () => {
    expect(problems([{ type: 'http', url: 'http://192.0.2.1/', interval: '5s', timeout: '1s', expect: { tlsIssuer: 'R11', spkiSha256: [HEX_PIN] } }])).toEqual([
      `${check0}.expect.tlsIssuer: needs an https: URL; http://192.0.2.1/ has no certificate to check`,
      `${check0}.expect.spkiSha256: needs an https: URL; http://192.0.2.1/ has no certificate to check`,
    ]);
  });

  it('refuses a tls check given a URL instead of a host', () => {
    expect(problems([{ type: 'tls', host: 'http://192.0.2.1/', interval: '5s', timeout: '1s' }])).toEqual([
      `${check0}.host: must be a host name or address, not a URL (this check connects to host:port)`,
    ]);
  });

  it('refuses an unparsable pin, naming it', () => {
    const out = problems([{ type: 'tls', host: '192.0.2.1', interval: '5s', timeout: '1s', expect: { spkiSha256: [HEX_PIN, 'not-a-pin'] } }]);
    expect(out).toEqual([expect.stringMatching(/^portals\[0\]\.sites\[0\]\.checks\[0\]\.expect\.spkiSha256\[1\]: "not-a-pin" is not a SHA-256 SPKI pin/)]);
  });

  it('accepts a tls check with defaults: port 443, minDaysLeft 14, pins in canonical base64', () => {
    const c = parseConfig(rawConfigWithChecks([{ type: 'tls', host: '192.0.2.1', interval: '5s', timeout: '1s', expect: { spkiSha256: [`sha256/${Buffer.from(HEX_PIN, 'hex').toString('base64')}`, HEX_PIN] } }]), 'test', { TEST_KEY: 'k' });
    expect(c.portals[0].sites[0].checks[0]).toMatchObject({ type: 'tls', port: 443, expect: { minDaysLeft: 14, spkiSha256: [Buffer.from(HEX_PIN, 'hex').toString('base64'), Buffer.from(HEX_PIN, 'hex').toString('base64')] } });
  });
});

describe('readiness checks', () => {
  const page = { type: 'http', url: 'https://192.0.2.1/', interval: '5s', timeout: '1s' };
  const version = (sameVersionAs: Record<string, unknown>) => ({ ...page, url: 'https://192.0.2.1/version', expect: { sameVersionAs } });

  it('accepts readiness checks with a version comparison and names them ready-<type>-<index> by default', () => {
    const c = parseConfig(rawConfigWithChecks([page], { readiness: [version({ site: 'standby', header: 'x-content-version', maxLag: '1h' })] }), 'test', { TEST_KEY: 'k' });
    expect(c.portals[0].sites[0].readiness).toEqual([expect.objectContaining({ type: 'http', expect: expect.objectContaining({ sameVersionAs: { site: 'standby', header: 'x-content-version', maxLag: 3_600_000 } }) })]);
  });

  it.each([
    [{ readiness: [version({ site: 'primary', header: 'x-v', maxLag: '1h' })] }, `portals[0].sites[0].readiness[0].expect.sameVersionAs.site: must name another site of this portal (sites: primary, standby)`],
    [{ readiness: [version({ site: 'standby', maxLag: '1h' })] }, `portals[0].sites[0].readiness[0].expect.sameVersionAs: give exactly one of header or jsonPointer`],
    [{ readiness: [version({ site: 'standby', jsonPointer: 'version', maxLag: '1h' })] }, `portals[0].sites[0].readiness[0].expect.sameVersionAs.jsonPointer: must be a JSON pointer such as /version`],
    [{ readiness: [{ ...page, name: 'http-0' }] }, `portals[0].sites[0].readiness[0].name: duplicate check name "http-0" (readiness and serving checks share one namespace per site)`],
  ])('refuses %j', (site, problem) => {
    expect(problems([page], site)).toEqual([problem]);
  });

  it('refuses sameVersionAs among the serving checks', () => {
    expect(problems([version({ site: 'standby', header: 'x-v', maxLag: '1h' })])).toEqual([
      `${check0}.expect.sameVersionAs: belongs in the site's readiness checks: a version lag makes a site not ready, never down`,
    ]);
  });
});
