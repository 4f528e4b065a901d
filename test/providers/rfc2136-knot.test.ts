import { randomBytes } from 'node:crypto';
import { type ProviderContext, type TargetSite } from '@portal-failover/shared';
import { captureLogger } from '../support/capture-logger';
import { KNOT_INSTALL_HINT, startKnot, type KnotServer } from '../support/knot-server';
import { queryA } from '../support/powerdns-server';
import { adminSet, expectServerFencing, PRIMARY, rfc2136Step, STANDBY, startConformanceKnot } from './harnesses';
import { rejection } from './test-kit';

/**
 * rfc2136 against a real Knot DNS (knotd -c, fresh directory, keys and ACLs as startConformanceKnot sets them up):
 * the refusals an operator meets with Knot. A wrong key and a record outside the key's ACL rule are both final
 * (non-retryable) and say why. The everyday behaviour (read, plan, apply, verify) is the conformance suite's
 * "rfc2136 (Knot)" block.
 */

const { logger, text: logText } = captureLogger();
const ctx: ProviderContext = { fence: { token: 1, assertHeld: async () => undefined }, logger };
const WWW = 'www.portal.example.';

let knot: KnotServer;
let secret: string;

beforeAll(async () => {
  knot = await startConformanceKnot();
  secret = knot.keys['failover-key'].secret;
});
afterAll(async () => {
  await knot?.stop();
});
beforeEach(async () => {
  await adminSet(knot, WWW, 'A', PRIMARY, logger);
});

const dig = (name: string, type: 'A' | 'AAAA' | 'CNAME' = 'A') => queryA(knot.host, knot.port, name, type);

describe('rfc2136 with Knot: switching records', () => {
  it('switches A with the hmac-sha256 and the hmac-sha512 key; Knot serves the new address at once', async () => {
    const p = rfc2136Step(knot, {}, secret, logger);
    expect(await dig(WWW)).toEqual(['192.0.2.10']);
    await p.apply(p.plan(await p.read(), STANDBY), ctx);
    expect(await dig(WWW)).toEqual(['198.51.100.20']);
    expect(await p.read()).toEqual({ values: ['198.51.100.20'], ttl: 30, detail: 'ttl 30', epoch: [['1']] });

    const p512 = rfc2136Step(knot, { ttl: 120, tsig: { name: 'failover-key-512', algorithm: 'hmac-sha512' } }, knot.keys['failover-key-512'].secret, logger);
    await p512.apply(p512.plan(await p512.read(), PRIMARY), ctx);
    expect(await p512.read()).toEqual({ values: ['192.0.2.10'], ttl: 120, detail: 'ttl 120', epoch: [['1']] });
    expect(knot.log()).toMatch(/\[portal\.example\.\] ACL, allowed, action update, remote 127\.0\.0\.1@\d+, key 'failover-key-512\.'/);
  });

  it('switches AAAA and CNAME records where the ACL allows exactly those types', async () => {
    const v6 = rfc2136Step(knot, { record: 'v6.portal.example', type: 'AAAA' }, secret, logger);
    await v6.apply(v6.plan(await v6.read(), { name: 'b', routing: { address: '2001:db8::20' } }), ctx);
    expect(await dig('v6.portal.example', 'AAAA')).toEqual(['2001:db8::20']);

    const cname = rfc2136Step(knot, { record: 'portal.portal.example.', type: 'CNAME' }, secret, logger);
    const standby: TargetSite = { name: 'standby', routing: { target: 'standby.example.net.' } };
    await cname.apply(cname.plan(await cname.read(), standby), ctx);
    expect(await dig('portal.portal.example', 'CNAME')).toEqual(['standby.example.net']);
    expect((await cname.verify(standby)).ok).toBe(true);
  });
});

describe('rfc2136 with Knot: Knot itself refuses a stale leader (epoch prerequisite)', () => {
  it('a write sets the epoch; older tokens are refused, by Knot when sent past the local check; a newer token writes', async () => {
    await expectServerFencing(knot, logger);
    // Both race writes reached Knot and were refused there, changing nothing.
    expect(knot.log().match(/DDNS, incoming, remote 127\.0\.0\.1@\d+, prerequisites not met \(UPDATE prerequisite not met\)\n.*DDNS, finished, no changes to the zone were made/g)).toHaveLength(2);
  });
});

describe('rfc2136 with Knot: refusals are clear and final', () => {
  it('a wrong TSIG secret: NOTAUTH/BADSIG, non-retryable, names the key, quotes no secret, changes nothing', async () => {
    const wrong = randomBytes(32).toString('base64');
    const p = rfc2136Step(knot, {}, wrong, logger);
    const readErr = await rejection(() => p.read());
    const applyErr = await rejection(() => p.apply(p.plan({ values: [] }, STANDBY), ctx));
    for (const err of [readErr, applyErr]) {
      expect(err.retryable).toBe(false);
      expect(err.message).toMatch(/rejected TSIG key failover-key\. \(hmac-sha256\): NOTAUTH\/BADSIG - the secret does not match/);
      for (const s of [wrong, secret]) expect(`${err.message}${err.stack ?? ''}${JSON.stringify(err)}`).not.toContain(s);
    }
    expect(await dig(WWW)).toEqual(['192.0.2.10']);
    expect(knot.log()).toMatch(/TSIG, key 'failover-key\.', verification failed 'BADSIG'/);
    expect(knot.log()).not.toContain(wrong);
    expect(logText()).not.toContain(wrong);
  });

  it('a key Knot does not know, or the right secret under the wrong algorithm: NOTAUTH/BADKEY, non-retryable', async () => {
    const unknown = rfc2136Step(knot, { tsig: { name: 'no-such-key' } }, secret, logger);
    const err = await rejection(() => unknown.apply(unknown.plan({ values: [] }, STANDBY), ctx));
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/NOTAUTH\/BADKEY/);

    const otherAlgorithm = rfc2136Step(knot, { tsig: { algorithm: 'hmac-sha512' } }, secret, logger);
    expect((await rejection(() => otherAlgorithm.read())).message).toMatch(/NOTAUTH\/BADKEY/);
    expect(await dig(WWW)).toEqual(['192.0.2.10']);
  });

  /*
   * Knot answers an update its ACL denies with NOTAUTH and TSIG error BADKEY (unsigned), not REFUSED as BIND does:
   * on the wire it looks like an unknown key. It is just as final; knotd's log tells the two apart ("ACL, denied").
   */
  const ACL_DENIED = /\[portal\.example\.\] ACL, denied, action update, remote 127\.0\.0\.1@\d+, key 'failover-key\.'/;

  it('a name outside the key\'s ACL rules (update-owner-name) is denied, non-retryable, and nothing changes', async () => {
    const p = rfc2136Step(knot, { record: 'api.portal.example' }, secret, logger);
    // The read-back is allowed: any rule of the zone naming the key lets its signed queries in.
    expect((await p.read()).values).toEqual(['192.0.2.99']);
    const before = knot.log().length;
    const err = await rejection(() => p.apply(p.plan({ values: [] }, STANDBY), ctx));
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/rejected TSIG key failover-key\. \(hmac-sha256\): NOTAUTH\/BADKEY/);
    expect(knot.log().slice(before)).toMatch(ACL_DENIED);
    expect(await dig('api.portal.example')).toEqual(['192.0.2.99']);
  });

  it('a type outside the key\'s ACL rules (update-type) is denied, non-retryable, and nothing changes', async () => {
    // failover-key may write v6 AAAA only; failover-key-512 may write www A only.
    const v6a = rfc2136Step(knot, { record: 'v6.portal.example', type: 'A' }, secret, logger);
    const before = knot.log().length;
    const err = await rejection(() => v6a.apply(v6a.plan({ values: [] }, STANDBY), ctx));
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/NOTAUTH\/BADKEY/);
    expect(knot.log().slice(before)).toMatch(ACL_DENIED);

    const www6 = rfc2136Step(knot, { type: 'AAAA', tsig: { name: 'failover-key-512', algorithm: 'hmac-sha512' } }, knot.keys['failover-key-512'].secret, logger);
    const err512 = await rejection(() => www6.apply(www6.plan({ values: [] }, { name: 'b', routing: { address: '2001:db8::30' } }), ctx));
    expect(err512.retryable).toBe(false);
    expect(err512.message).toMatch(/NOTAUTH\/BADKEY/);
    expect(await dig(WWW, 'AAAA')).toEqual([]);
    expect(await dig('v6.portal.example')).toEqual([]);
  });

  it('a zone whose ACL gives the key queries only: reads work, the update is denied, non-retryable', async () => {
    const p = rfc2136Step(knot, { zone: 'locked.example', record: 'www.locked.example' }, secret, logger);
    expect((await p.read()).values).toEqual(['192.0.2.10']);
    const err = await rejection(() => p.apply(p.plan({ values: [] }, STANDBY), ctx));
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/NOTAUTH\/BADKEY/);
    expect(knot.log()).toMatch(/\[locked\.example\.\] ACL, denied, action update, .*key 'failover-key\.'/);
    expect(await dig('www.locked.example')).toEqual(['192.0.2.10']);
  });
});

describe('rfc2136 with Knot: test server', () => {
  it('a missing knotd fails the test with the install hint (it is never skipped)', async () => {
    await expect(startKnot({ executable: 'pf-no-such-knotd', keys: [], zones: [] })).rejects.toThrow(
      /pf-no-such-knotd is not installed .*apt-get install -y --no-install-recommends knot/,
    );
    expect(KNOT_INSTALL_HINT).toMatch(/knot/);
  });
});
