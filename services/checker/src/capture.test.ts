import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { probe } from '@portal-failover/shared';
import type { CheckResult, HttpCheckConfig, ResponseCapture, TcpCheckConfig } from '@portal-failover/shared';
import { TestPki } from '../../../test/support/test-pki';
import { CaptureOnFailure, captureHttp } from './capture';

let server: http.Server;
let url: string;
let requests = 0;

beforeAll(async () => {
  server = http.createServer((_req, res) => {
    requests++;
    res.writeHead(503, { 'content-type': 'text/plain' });
    res.end('down for maintenance');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});
afterAll(() => new Promise((r) => server.close(r)));

const check = (): HttpCheckConfig => ({
  type: 'http',
  interval: 1_000,
  timeout: 500,
  url,
  method: 'GET',
  headers: {},
  maxBodyBytes: 1024,
  expect: { status: [200], bodyIncludes: [], bodyExcludes: [] },
  tls: { verify: true },
  redirects: { follow: false, allowOtherHost: false, max: 5 },
});
const result = (ok: boolean, at: number): CheckResult => ({ ok, at, portal: 'p', site: 'primary', check: 'http-0', vantage: 'v1', intervalMs: 1_000, durationMs: 3, ...(ok ? {} : { reason: 'status', detail: 'HTTP 503, expected 200', status: 503 }) });
const CHECK = { portal: 'p', site: 'primary', check: 'http-0' };

function capturing() {
  const saved: ResponseCapture[] = [];
  const cap = new CaptureOnFailure({ maxBodyBytes: 8, minGapMs: 60_000, save: async (c) => saved.push(c) });
  return { cap, saved };
}

describe('CaptureOnFailure', () => {
  it('asks a probe to keep its response only when that probe may turn the check down, once per gap, http only', async () => {
    const { cap } = capturing();
    const cfg = check();
    expect(cap.keepResponse(cfg, CHECK, 1_000)).toBeUndefined(); // nothing known yet: not a turn from up
    cap.observe(cfg, result(true, 1_000));
    expect(cap.keepResponse(cfg, CHECK, 2_000)).toEqual({ maxBodyBytes: 8 });
    await cap.observe(cfg, result(false, 2_000), { status: 503, body: 'down for' });
    cap.observe(cfg, result(true, 3_000));
    expect(cap.keepResponse(cfg, CHECK, 4_000)).toBeUndefined(); // within the gap after a capture
    expect(cap.keepResponse(cfg, CHECK, 62_000)).toEqual({ maxBodyBytes: 8 });
    const tcp: TcpCheckConfig = { type: 'tcp', interval: 1_000, timeout: 500, host: '127.0.0.1', port: 1 };
    cap.observe(tcp, { ...result(true, 1_000), check: 'tcp-0' });
    expect(cap.keepResponse(tcp, { ...CHECK, check: 'tcp-0' }, 2_000)).toBeUndefined();
  });

  it('keeps the failing probe’s own response without asking the portal again', async () => {
    const { cap, saved } = capturing();
    const cfg = check();
    cap.observe(cfg, result(true, 1_000));
    const before = requests;
    await cap.observe(cfg, result(false, 2_000), { status: 503, headers: { 'content-type': 'text/plain' }, body: 'down for', bodyBytes: 20, truncated: true });
    expect(requests).toBe(before);
    expect(saved).toEqual([
      { portal: 'p', site: 'primary', check: 'http-0', vantage: 'v1', at: 2_000, probe: { reason: 'status', detail: 'HTTP 503, expected 200' }, url, from: 'probe', status: 503, headers: { 'content-type': 'text/plain' }, body: 'down for', bodyBytes: 20, truncated: true },
    ]);
  });

  it('asks the portal once more when the failing probe got no answer to keep', async () => {
    const { cap, saved } = capturing();
    const cfg = check();
    cap.observe(cfg, result(true, 1_000));
    const before = requests;
    await cap.observe(cfg, { ...result(false, 2_000), reason: 'timeout', detail: 'no complete response within 500 ms' });
    expect(requests).toBe(before + 1);
    expect(saved[0]).toMatchObject({ from: 'request', status: 503, body: 'down for', truncated: true, probe: { reason: 'timeout' } });
  });
});

describe('what a capture keeps of an HTTPS answer', () => {
  let pki: TestPki;
  let tlsServer: https.Server;
  let tlsUrl: string;

  beforeAll(async () => {
    pki = await TestPki.create();
    // A hosting provider's own self-signed certificate in front of its error page.
    const cert = await pki.selfSigned('suspended.hosting.test');
    tlsServer = https.createServer({ key: cert.key, cert: cert.cert }, (_req, res) => {
      res.writeHead(503, { 'content-type': 'text/html' });
      res.end('<h1>Account suspended</h1>');
    });
    await new Promise<void>((r) => tlsServer.listen(0, '127.0.0.1', r));
    tlsUrl = `https://127.0.0.1:${(tlsServer.address() as AddressInfo).port}/`;
  });
  afterAll(async () => {
    await new Promise((r) => tlsServer.close(r));
    await pki.remove();
  });

  it('the second request accepts any certificate and records it with its verification error', async () => {
    const seen = await captureHttp({ url: tlsUrl, headers: {}, tls: { verify: true } }, 1024, 2_000);
    expect(seen).toMatchObject({ status: 503, body: '<h1>Account suspended</h1>', truncated: false, tls: { authorized: false } });
    expect(seen.tls?.subject).toContain('CN=suspended.hosting.test');
    expect(seen.tls?.authorizationError).toMatch(/SELF_SIGNED/);
    expect(seen.tls?.fingerprint256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  });

  it('the failing probe keeps the certificate it was shown with its own response', async () => {
    const r = await probe({ ...check(), url: tlsUrl, tls: { verify: false } }, { keepResponse: { maxBodyBytes: 1024 } });
    expect(r).toMatchObject({ ok: false, reason: 'status', response: { status: 503, body: '<h1>Account suspended</h1>', tls: { authorized: false } } });
    expect(r.response?.tls?.subject).toContain('CN=suspended.hosting.test');
  });

  it('a plain HTTP answer has no certificate summary', async () => {
    expect((await captureHttp({ url, headers: {}, tls: { verify: true } }, 1024, 2_000)).tls).toBeUndefined();
  });
});
