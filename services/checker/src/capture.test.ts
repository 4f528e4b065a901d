import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CheckResult, HttpCheckConfig, ResponseCapture, TcpCheckConfig } from '@portal-failover/shared';
import { CaptureOnFailure } from './capture';

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
const ID = 'p.primary.http-0';

function capturing() {
  const saved: ResponseCapture[] = [];
  const cap = new CaptureOnFailure({ maxBodyBytes: 8, minGapMs: 60_000, save: async (c) => saved.push(c) });
  return { cap, saved };
}

describe('CaptureOnFailure', () => {
  it('asks a probe to keep its response only when that probe may turn the check down, once per gap, http only', async () => {
    const { cap } = capturing();
    const cfg = check();
    expect(cap.keepResponse(cfg, ID, 1_000)).toBeUndefined(); // nothing known yet: not a turn from up
    cap.observe(cfg, result(true, 1_000));
    expect(cap.keepResponse(cfg, ID, 2_000)).toEqual({ maxBodyBytes: 8 });
    await cap.observe(cfg, result(false, 2_000), { status: 503, body: 'down for' });
    cap.observe(cfg, result(true, 3_000));
    expect(cap.keepResponse(cfg, ID, 4_000)).toBeUndefined(); // within the gap after a capture
    expect(cap.keepResponse(cfg, ID, 62_000)).toEqual({ maxBodyBytes: 8 });
    const tcp: TcpCheckConfig = { type: 'tcp', interval: 1_000, timeout: 500, host: '127.0.0.1', port: 1 };
    cap.observe(tcp, { ...result(true, 1_000), check: 'tcp-0' });
    expect(cap.keepResponse(tcp, 'p.primary.tcp-0', 2_000)).toBeUndefined();
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
