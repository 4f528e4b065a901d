import net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { TcpCheckConfig } from '../config/schema';
import { probe } from './probe';
import { networkFailure, probeTcp, redact } from './tcp.check';

function tcpCheck(port: number, o: Partial<TcpCheckConfig> = {}): TcpCheckConfig {
  return { type: 'tcp', interval: 10_000, timeout: 2_000, host: '127.0.0.1', port, ...o };
}

function listen(s: net.Server): Promise<number> {
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve((s.address() as net.AddressInfo).port)));
}

let server: net.Server;
let port: number;
let deadPort: number;

beforeAll(async () => {
  server = net.createServer((socket) => socket.destroy());
  port = await listen(server);
  const closed = net.createServer();
  deadPort = await listen(closed);
  await new Promise((r) => closed.close(r));
});

afterAll(() => new Promise((r) => server.close(r)));

describe('probeTcp', () => {
  it('passes when the port accepts a connection', async () => {
    const r = await probeTcp(tcpCheck(port));
    expect(r.ok).toBe(true);
    expect(r.durationMs).toBeGreaterThan(0);
  });

  it('accepts a bracketed IPv6-style host for an IPv4 literal too', async () => {
    expect((await probeTcp(tcpCheck(port, { host: '[127.0.0.1]' }))).ok).toBe(true);
  });

  it('reports a refused connection', async () => {
    expect(await probeTcp(tcpCheck(deadPort))).toMatchObject({ ok: false, reason: 'refused' });
  });

  it('does not report a timeout for a connection made while the checker itself stalled past its timeout', async () => {
    const started = probeTcp(tcpCheck(port, { timeout: 100 }));
    const end = performance.now() + 300;
    while (performance.now() < end);
    expect(await started).toMatchObject({ ok: true });
  });

  // A real connect timeout needs an address that swallows SYNs; only loopback is allowed here, so the
  // deadline path is exercised through the abort signal, which ends the probe the same way.
  it('ends with reason timeout and detail "aborted" when the signal aborts', async () => {
    const ctl = new AbortController();
    ctl.abort();
    expect(await probeTcp(tcpCheck(port), { signal: ctl.signal })).toMatchObject({ ok: false, reason: 'timeout', detail: 'aborted' });
  });
});

describe('probe', () => {
  it('dispatches on check type', async () => {
    expect((await probe(tcpCheck(port))).ok).toBe(true);
    const http = await probe({
      type: 'http', interval: 10_000, timeout: 2_000, url: `http://127.0.0.1:${deadPort}/`, method: 'GET', headers: {},
      expect: { status: [200], bodyIncludes: [], bodyExcludes: [] }, tls: { verify: true }, redirects: { follow: false, allowOtherHost: false, max: 5 },
      maxBodyBytes: 1024 * 1024,
    });
    expect(http).toMatchObject({ ok: false, reason: 'refused' });
  });
});

describe('networkFailure', () => {
  const err = (code: string, message = code) => Object.assign(new Error(message), { code });

  it.each([
    ['ECONNREFUSED', 'refused'],
    ['ECONNRESET', 'reset'],
    ['EPIPE', 'reset'],
    ['ENOTFOUND', 'dns'],
    ['EAI_AGAIN', 'dns'],
    ['DEPTH_ZERO_SELF_SIGNED_CERT', 'tls'],
    ['CERT_HAS_EXPIRED', 'tls'],
    ['ERR_TLS_CERT_ALTNAME_INVALID', 'tls'],
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'tls'],
    ['EHOSTUNREACH', 'error'],
  ])('maps %s to %s', (code, reason) => {
    expect(networkFailure(err(code)).reason).toBe(reason);
  });

  it('maps "socket hang up" to reset and never throws on odd values', () => {
    expect(networkFailure(new Error('socket hang up')).reason).toBe('reset');
    expect(networkFailure('boom')).toMatchObject({ ok: false, reason: 'error', detail: 'boom' });
    expect(networkFailure(null).reason).toBe('error');
  });

  it('strips credentials from URLs in messages', () => {
    expect(redact('GET https://admin:s3cret@portal.example/x failed')).toBe('GET https://portal.example/x failed');
  });
});
