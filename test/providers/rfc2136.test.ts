import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { makeFields, rfc2136Provider, type ProviderContext, type TargetSite, type TrafficProvider } from '@portal-failover/shared';
import { BIND_INSTALL_HINT, startBind, type BindServer } from '../support/bind-server';
import { captureLogger } from '../support/capture-logger';
import { decodeWire, DNS_TYPE, startDnsTcpProxy, type DnsProxy } from '../support/dns-tcp-proxy';
import { freePort } from '../support/free-port';
import { queryA } from '../support/powerdns-server';
import { adminSet, expectServerFencing, PRIMARY, rfc2136Step, STANDBY, startConformanceBind } from './harnesses';
import { rejection } from './test-kit';

/**
 * rfc2136 against a real BIND 9 (named -g, fresh directory, keys from tsig-keygen): the failure modes an operator
 * meets — wrong secret, unknown key, a zone or name the key may not touch, a zone the server does not have — and
 * what must never happen: an answer whose TSIG signature does not verify being taken for success.
 */

const { logger, text: logText } = captureLogger();
const ctx: ProviderContext = { fence: { token: 1, assertHeld: async () => undefined }, logger };
const WWW = 'www.portal.example.';

let bind: BindServer;
let secret: string;
const closers: (() => Promise<void>)[] = [];

beforeAll(async () => {
  bind = await startConformanceBind();
  secret = bind.keys['failover-key'].secret;
});
afterAll(async () => {
  await bind?.stop();
});
beforeEach(async () => {
  await adminSet(bind, WWW, 'A', PRIMARY, logger);
});
afterEach(async () => {
  while (closers.length) await closers.pop()?.();
});

const dig = (name: string, type: 'A' | 'AAAA' | 'CNAME' = 'A') => queryA(bind.host, bind.port, name, type);

async function proxy(): Promise<DnsProxy> {
  const p = await startDnsTcpProxy({ host: bind.host, port: bind.port });
  closers.push(() => p.close());
  return p;
}

/** A TCP "DNS server" that answers every message with `answer(request)`, or never when it returns undefined. */
async function fakeServer(answer: (request: Buffer) => Buffer | undefined): Promise<string> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
    s.on('data', (d: Buffer) => {
      const reply = answer(d.subarray(2));
      if (!reply) return;
      const len = Buffer.alloc(2);
      len.writeUInt16BE(reply.length);
      s.write(Buffer.concat([len, reply]));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  closers.push(() => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }));
  const address = server.address();
  return `127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
}

describe('rfc2136: switching records in BIND', () => {
  it('switches A with an hmac-sha256 key and BIND serves the new address on the next query', async () => {
    const p = rfc2136Step(bind, {}, secret, logger);
    expect(await dig(WWW)).toEqual(['192.0.2.10']);
    await p.apply(p.plan(await p.read(), STANDBY), ctx);
    expect(await dig(WWW)).toEqual(['198.51.100.20']);
    expect(await p.read()).toEqual({ values: ['198.51.100.20'], ttl: 30, detail: 'ttl 30', epoch: [['1']] });
    // One message: BIND logs the delete and the add under the same client and key.
    expect(bind.log()).toMatch(/key failover-key: updating zone 'portal\.example\/IN': deleting rrset at 'www\.portal\.example' A\n.*key failover-key: updating zone 'portal\.example\/IN': adding an RR at 'www\.portal\.example' A 198\.51\.100\.20/);
  });

  it('works with an hmac-sha512 key, and writes the configured TTL', async () => {
    const p = rfc2136Step(bind, { ttl: 120, tsig: { name: 'failover-key-512', algorithm: 'hmac-sha512' } }, bind.keys['failover-key-512'].secret, logger);
    const plan = p.plan(await p.read(), STANDBY);
    expect(plan.request).toMatchObject({ tsig: { key: 'failover-key-512.', algorithm: 'hmac-sha512' } });
    await p.apply(plan, ctx);
    expect(await p.read()).toEqual({ values: ['198.51.100.20'], ttl: 120, detail: 'ttl 120', epoch: [['1']] });
    // Same value, other TTL: still a change (the TTL decides how fast the next switch reaches resolvers).
    const back = rfc2136Step(bind, { ttl: 30, tsig: { name: 'failover-key-512', algorithm: 'hmac-sha512' } }, bind.keys['failover-key-512'].secret, logger);
    expect(back.plan(await back.read(), STANDBY).changes).toBe(true);
  });

  it('switches AAAA and CNAME records, in canonical form', async () => {
    const v6 = rfc2136Step(bind, { record: 'v6.portal.example', type: 'AAAA' }, secret, logger);
    expect((await v6.read()).values).toEqual(['2001:db8::10']);
    await v6.apply(v6.plan(await v6.read(), { name: 'b', routing: { address: '2001:DB8:0:0::20' } }), ctx);
    expect(await dig('v6.portal.example', 'AAAA')).toEqual(['2001:db8::20']);
    expect((await v6.verify({ name: 'b', routing: { address: '2001:db8::20' } })).ok).toBe(true);

    const cname = rfc2136Step(bind, { record: 'portal.portal.example.', type: 'CNAME' }, secret, logger);
    expect((await cname.read()).values).toEqual(['primary.example.net.']);
    const standby: TargetSite = { name: 'standby', routing: { target: 'Standby.Example.NET' } };
    await cname.apply(cname.plan(await cname.read(), standby), ctx);
    expect(await dig('portal.portal.example', 'CNAME')).toEqual(['standby.example.net']);
    expect(await cname.verify(standby)).toMatchObject({ ok: true, observed: ['standby.example.net.'] });
  });

  it('verify catches an update BIND accepted but did not apply (a CNAME next to other data)', async () => {
    // RFC 2136 §3.4.2.2: a CNAME added to a name that has other data is silently ignored, with NOERROR.
    const p = rfc2136Step(bind, { record: 'api.portal.example', type: 'CNAME', tsig: { name: 'admin-key' } }, bind.keys['admin-key'].secret, logger);
    const target: TargetSite = { name: 'standby', routing: { target: 'standby.example.net.' } };
    await p.apply(p.plan(await p.read(), target), ctx);
    const v = await p.verify(target);
    expect(v).toMatchObject({ ok: false, observed: [] });
    expect(v.detail).toMatch(/expected standby\.example\.net\., 127\.0\.0\.1:\d+ serves \[\]/);
    expect(await dig('api.portal.example')).toEqual(['192.0.2.99']);
  });

  it('verify catches a record changed behind the provider\'s back', async () => {
    const p = rfc2136Step(bind, {}, secret, logger);
    await p.apply(p.plan(await p.read(), STANDBY), ctx);
    expect((await p.verify(STANDBY)).ok).toBe(true);
    await adminSet(bind, WWW, 'A', { name: 'x', routing: { address: '203.0.113.7' } }, logger);
    expect(await p.verify(STANDBY)).toMatchObject({ ok: false, observed: ['203.0.113.7'] });
  });
});

describe('rfc2136: BIND itself refuses a stale leader (epoch prerequisite)', () => {
  it('a write sets the epoch; older tokens are refused, by BIND when sent past the local check; a newer token writes', async () => {
    await expectServerFencing(bind, logger);
    expect(bind.log()).toMatch(/key failover-key: updating zone 'portal\.example\/IN': update unsuccessful: _pf-epoch\.www\.portal\.example\/TXT: 'RRset exists \(value dependent\)' prerequisite not satisfied \(NXRRSET\)/);
    expect(bind.log()).toMatch(/key failover-key: updating zone 'portal\.example\/IN': update unsuccessful: _pf-epoch\.www\.portal\.example: 'name not in use' prerequisite not satisfied \(YXDOMAIN\)/);
  });
});

describe('rfc2136: refusals are clear and final', () => {
  it('a wrong TSIG secret: NOTAUTH/BADSIG, non-retryable, names the key, quotes no secret, changes nothing', async () => {
    const wrong = randomBytes(32).toString('base64');
    const p = rfc2136Step(bind, {}, wrong, logger);
    const readErr = await rejection(() => p.read());
    const applyErr = await rejection(() => p.apply(p.plan({ values: [] }, STANDBY), ctx));
    for (const err of [readErr, applyErr]) {
      expect(err.retryable).toBe(false);
      expect(err.message).toMatch(/rejected TSIG key failover-key\. \(hmac-sha256\): NOTAUTH\/BADSIG - the secret does not match/);
      for (const s of [wrong, secret]) expect(`${err.message}${err.stack ?? ''}${JSON.stringify(err)}`).not.toContain(s);
    }
    expect(await dig(WWW)).toEqual(['192.0.2.10']);
    expect(bind.log()).toMatch(/tsig verify failure \(BADSIG\)/);
    expect(logText()).not.toContain(wrong);
  });

  it('a key the server does not know: BADKEY, non-retryable', async () => {
    const p = rfc2136Step(bind, { tsig: { name: 'no-such-key' } }, secret, logger);
    const err = await rejection(() => p.apply(p.plan({ values: [] }, STANDBY), ctx));
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/NOTAUTH\/BADKEY - the server does not know a key of this name and algorithm/);
  });

  it('the right secret with the wrong algorithm is BADKEY too', async () => {
    const p = rfc2136Step(bind, { tsig: { algorithm: 'hmac-sha512' } }, secret, logger);
    expect((await rejection(() => p.read())).message).toMatch(/BADKEY/);
  });

  it('a zone that takes no updates: REFUSED, non-retryable, pointing at update-policy', async () => {
    const p = rfc2136Step(bind, { zone: 'locked.example', record: 'www.locked.example' }, secret, logger);
    expect((await p.read()).values).toEqual(['192.0.2.10']);
    const err = await rejection(() => p.apply(p.plan({ values: [] }, STANDBY), ctx));
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/answered REFUSED to the update: key failover-key\. may not update www\.locked\.example\. A in zone locked\.example\. \(check allow-update \/ update-policy/);
    expect(await dig('www.locked.example')).toEqual(['192.0.2.10']);
    expect(bind.log()).toMatch(/update 'locked\.example\/IN' denied/);
  });

  it('a name outside the key\'s grant is REFUSED: update-policy gives this key www only', async () => {
    const p = rfc2136Step(bind, { record: 'api.portal.example' }, secret, logger);
    const err = await rejection(() => p.apply(p.plan({ values: [] }, STANDBY), ctx));
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/REFUSED/);
    expect(await dig('api.portal.example')).toEqual(['192.0.2.99']);
  });

  it('a zone the server does not have: the query is REFUSED and the update NOTAUTH, both non-retryable', async () => {
    const p = rfc2136Step(bind, { zone: 'elsewhere.example', record: 'www.elsewhere.example' }, secret, logger);
    const readErr = await rejection(() => p.read());
    expect(readErr).toMatchObject({ retryable: false });
    expect(readErr.message).toMatch(/answered REFUSED to the query/);
    const applyErr = await rejection(() => p.apply(p.plan({ values: [] }, STANDBY), ctx));
    expect(applyErr).toMatchObject({ retryable: false });
    expect(applyErr.message).toMatch(/answered NOTAUTH to the update: it is not authoritative for zone elsewhere\.example\./);
  });
});

describe('rfc2136: answers are authenticated', () => {
  /** Offset of the first MAC byte in a TSIG record's data: after the algorithm name, time (6), fudge (2), size (2). */
  function macOffset(rdata: Buffer): number {
    let p = 0;
    while (rdata[p] !== 0) p += rdata[p] + 1;
    return p + 1 + 10;
  }

  it('an update answer whose MAC does not verify is an error, never a success', async () => {
    const px = await proxy();
    px.rewrite = (answer) => {
      const copy = Buffer.from(answer);
      const tsig = decodeWire(copy).additionals.find((r) => r.type === DNS_TYPE.TSIG);
      if (tsig) tsig.rdata[macOffset(tsig.rdata)] ^= 0xff; // rdata is a view into copy
      return copy;
    };
    const p = rfc2136Step(bind, { server: px.server }, secret, logger);
    const readErr = await rejection(() => p.read());
    expect(readErr.message).toMatch(/TSIG signature of the query answer .* does not verify \(MAC does not verify\); not trusting it/);
    const applyErr = await rejection(() => p.apply(p.plan({ values: ['192.0.2.10'] }, STANDBY), ctx));
    expect(applyErr.retryable).toBe(false);
    expect(applyErr.message).toMatch(/TSIG signature of the update answer .* does not verify .* the update may or may not have been applied/);
    // BIND itself verified our request and applied it; only its answer was corrupted on the way back.
    expect(await dig(WWW)).toEqual(['198.51.100.20']);
  });

  it('an answer stripped of its TSIG record is not trusted either', async () => {
    const px = await proxy();
    px.rewrite = (answer) => {
      const msg = decodeWire(answer);
      const tsig = msg.additionals.find((r) => r.type === DNS_TYPE.TSIG);
      if (!tsig) return answer;
      const stripped = Buffer.from(answer.subarray(0, tsig.offset));
      stripped.writeUInt16BE(msg.additionals.length - 1, 10);
      return stripped;
    };
    const p = rfc2136Step(bind, { server: px.server }, secret, logger);
    expect((await rejection(() => p.read())).message).toMatch(/the query answer from .* is not signed with key failover-key\. \(hmac-sha256\); not trusting it/);
    const err = await rejection(() => p.apply(p.plan({ values: [] }, STANDBY), ctx));
    expect(err.message).toMatch(/the update answer .* is not signed/);
  });

  it('sends the update as one signed message: epoch prerequisite, delete the RRset, add the record, replace the epoch', async () => {
    const px = await proxy();
    const p = rfc2136Step(bind, { server: px.server }, secret, logger);
    await p.apply(p.plan(await p.read(), STANDBY), ctx);
    await p.apply(p.plan(await p.read(), PRIMARY), { ...ctx, fence: { ...ctx.fence, token: 12 } });
    const updates = px.messages.map(decodeWire).filter((m) => m.opcode === 5);
    expect(updates).toHaveLength(2);
    const epoch = '_pf-epoch.www.portal.example.';
    // First write: "name not in use" (class NONE, type ANY); then "RRset exists (value dependent)": TXT "1".
    expect(updates.map((u) => u.answers.map((r) => [r.name, r.cls, r.type, r.ttl, [...r.rdata]]))).toEqual([
      [[epoch, 254, 255, 0, []]],
      [[epoch, 1, 16, 0, [1, ...Buffer.from('1')]]],
    ]);
    for (const [u, token] of [[updates[0], '1'], [updates[1], '12']] as const) {
      expect(u.authorities.map((r) => [r.name, r.cls, r.type, r.ttl, r.rdata.length])).toEqual([
        [WWW, 255, 1, 0, 0],
        [WWW, 1, 1, 30, 4],
        [epoch, 255, 16, 0, 0],
        [epoch, 1, 16, 60, token.length + 1],
      ]);
      expect(u.authorities[3].rdata.subarray(1).toString()).toBe(token);
    }
    // Queries are signed as well, so a read-back cannot be answered by anyone without the key.
    for (const m of px.messages.map(decodeWire)) expect(m.additionals.at(-1)?.type).toBe(DNS_TYPE.TSIG);
  });
});

describe('rfc2136: transient failures are retryable', () => {
  it('SERVFAIL is retryable', async () => {
    const server = await fakeServer((req) => {
      const reply = Buffer.from(req.subarray(0, 12));
      reply.writeUInt16BE(0x8000 | (req.readUInt16BE(2) & 0x7800) | 2, 2); // QR, same opcode, SERVFAIL
      reply.fill(0, 4, 12);
      return reply;
    });
    const p = rfc2136Step(bind, { server }, secret, logger);
    const err = await rejection(() => p.apply(p.plan({ values: [] }, STANDBY), ctx));
    expect(err.retryable).toBe(true);
    expect(err.message).toMatch(/answered SERVFAIL to the update .*\(the answer was not signed/);
  });

  it('a server that never answers times out within the configured timeout, retryably', async () => {
    const server = await fakeServer(() => undefined);
    const p = rfc2136Step(bind, { server, timeout: '300ms' }, secret, logger);
    const started = Date.now();
    const err = await rejection(() => p.read());
    expect(Date.now() - started).toBeLessThan(2000);
    expect(err.retryable).toBe(true);
    expect(err.message).toMatch(/query to 127\.0\.0\.1:\d+ failed: no answer within 300ms/);
  });

  it('a closed port is retryable', async () => {
    const p = rfc2136Step(bind, { server: `127.0.0.1:${await freePort()}` }, secret, logger);
    const err = await rejection(() => p.read());
    expect(err.retryable).toBe(true);
    expect(err.message).toMatch(/ECONNREFUSED/);
  });
});

describe('rfc2136: schema and site checks', () => {
  const parse = (raw: Record<string, unknown>, env: Record<string, string> = { S: randomBytes(32).toString('base64') }) =>
    rfc2136Provider.schema(makeFields(env)).safeParse({ kind: 'rfc2136', server: '127.0.0.1:53', zone: 'portal.example', record: 'www.portal.example', type: 'A', tsig: { name: 'k', secret: '${S}' }, ...raw });
  const issues = (r: ReturnType<typeof parse>) => (r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));

  it('takes defaults and canonical names', () => {
    const r = parse({});
    expect(r.success).toBe(true);
    expect(r.data).toMatchObject({ zone: 'portal.example.', record: 'www.portal.example.', ttl: 30, timeoutMs: 5000, tsig: { name: 'k.', algorithm: 'hmac-sha256' } });
  });

  it('refuses a literal secret, a secret that is not a base64 key (without echoing it), and records outside the zone', () => {
    expect(issues(parse({ tsig: { name: 'k', secret: 'c2VjcmV0c2VjcmV0c2VjcmV0' } }))).toEqual([
      'tsig.secret: secrets must be a ${ENV_VAR} reference or a file:/path, never the literal value',
    ]);
    const bad = parse({}, { S: 'not base64 at all!' });
    expect(issues(bad)).toEqual(['tsig.secret: must be the base64 secret tsig-keygen prints (at least 16 bytes)']);
    expect(JSON.stringify(bad.error)).not.toContain('not base64 at all!');
    expect(issues(parse({ record: 'www.other.example' }))).toEqual(['record: www.other.example. is not inside zone portal.example.']);
    expect(issues(parse({ record: 'portal.example', type: 'CNAME' }))).toEqual(['record: a CNAME cannot be at the zone apex']);
    expect(issues(parse({ tsig: { name: 'k', algorithm: 'hmac-md5', secret: '${S}' } }))[0]).toMatch(/^tsig\.algorithm: /);
    expect(issues(parse({ server: 'localhost' }))).toEqual(['server: must be host:port, e.g. 127.0.0.1:8080']);
  });

  it('checkSites names sites whose routing does not fit the record type', () => {
    const step = parse({}).data;
    if (!step) throw new Error('parse failed');
    expect(rfc2136Provider.checkSites(step, [PRIMARY, { name: 'v6', routing: { address: '2001:db8::1' } }])).toEqual([
      { path: ['type'], message: 'site v6 routing.address 2001:db8::1 is IPv6 but the record type is A' },
    ]);
  });

  it('the label and the plan name the server and the key, never the secret', async () => {
    const p: TrafficProvider = rfc2136Step(bind, {}, secret, logger);
    expect(p.label).toBe(`rfc2136 www.portal.example./A via ${bind.server}`);
    const plan = p.plan({ values: ['192.0.2.10'] }, STANDBY);
    expect(plan.description).toBe(
      `UPDATE zone portal.example. at ${bind.server}: delete www.portal.example. A [192.0.2.10], add 198.51.100.20 (ttl 30), signed by failover-key.; epoch _pf-epoch.www.portal.example. TXT none -> fence token`,
    );
    expect(JSON.stringify(plan)).not.toContain(secret);
  });
});

describe('rfc2136: test servers', () => {
  it('a missing named fails the test with the install hint (it is never skipped)', async () => {
    await expect(startBind({ executable: 'pf-no-such-named', keys: [], zones: [] })).rejects.toThrow(
      /pf-no-such-named is not installed .*apt-get install -y --no-install-recommends bind9 bind9-utils/,
    );
    expect(BIND_INSTALL_HINT).toMatch(/bind9/);
  });
});
