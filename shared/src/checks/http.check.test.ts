import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { TLSSocket } from 'node:tls';
import zlib from 'node:zlib';
import type { HttpCheckConfig } from '../config/schema';
import { probeHttp } from './http.check';

type Overrides = Partial<Omit<HttpCheckConfig, 'expect' | 'tls' | 'redirects'>> & {
  expect?: Partial<HttpCheckConfig['expect']>;
  tls?: Partial<HttpCheckConfig['tls']>;
  redirects?: Partial<HttpCheckConfig['redirects']>;
};

/** A check as the config loader would produce it: every default filled in, durations in ms. */
function httpCheck(url: string, o: Overrides = {}): HttpCheckConfig {
  const { expect, tls, redirects, ...rest } = o;
  return {
    type: 'http',
    interval: 10_000,
    timeout: 2_000,
    url,
    method: 'GET',
    headers: {},
    maxBodyBytes: 1024 * 1024,
    ...rest,
    expect: { status: [200], bodyIncludes: [], bodyExcludes: [], ...expect },
    tls: { verify: true, ...tls },
    redirects: { follow: false, allowOtherHost: false, max: 5, ...redirects },
  };
}

const SUSPENDED = '<html><body><h1>Tài khoản đã bị tạm ngưng / Service Suspended</h1></body></html>';
const PORTAL = '<html><body><h1>Cổng dịch vụ công</h1><p>Đăng nhập</p></body></html>';

let lastHeaders: http.IncomingHttpHeaders = {};
/** The client port of every request to /ok: a reused connection would show up as a repeated port. */
const okPorts: number[] = [];

/** One server whose behaviour is chosen by path, so each case reads like the failure it simulates. */
function route(req: http.IncomingMessage, res: http.ServerResponse): void {
  lastHeaders = req.headers;
  const send = (status: number, body: string | Buffer = '', headers: http.OutgoingHttpHeaders = {}) => {
    res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', ...headers });
    res.end(body);
  };
  switch (req.url) {
    case '/ok':
      okPorts.push(req.socket.remotePort ?? 0);
      return send(200, PORTAL);
    case '/down':
      return send(503, 'maintenance');
    case '/suspended':
      return send(200, SUSPENDED);
    case '/suspended-gzip':
      return send(200, zlib.gzipSync(SUSPENDED), { 'content-encoding': 'gzip' });
    case '/big':
      return send(200, 'x'.repeat(4096));
    case '/slow':
      return void setTimeout(() => send(200, PORTAL), 300);
    case '/hang':
      return; // accepts the request, never answers
    case '/trickle': {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const t = setInterval(() => res.write('.'), 50);
      res.on('close', () => clearInterval(t));
      return;
    }
    case '/cut': {
      res.writeHead(200, { 'content-length': '100' });
      res.write('partial');
      return void setTimeout(() => res.socket?.destroy(), 50);
    }
    case '/to-same':
      return send(302, '', { location: '/ok' });
    case '/to-other':
      return send(302, '', { location: 'https://user:secret@suspended.hosting.example/' });
    case '/to-other-port':
      return send(302, '', { location: 'http://127.0.0.1:1/ok' });
    case '/loop':
      return send(302, '', { location: '/loop' });
    default:
      return send(404, 'not found');
  }
}

let server: http.Server;
let base: string;
let dead: string;
let silent: net.Server;
let silentUrl: string;
const silentSockets = new Set<net.Socket>();

function listen(s: net.Server): Promise<number> {
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve((s.address() as net.AddressInfo).port)));
}

beforeAll(async () => {
  server = http.createServer(route);
  base = `http://127.0.0.1:${await listen(server)}`;
  // A server that accepts the TCP connection and never says a word, not even headers.
  silent = net.createServer((socket) => {
    silentSockets.add(socket);
    socket.on('close', () => silentSockets.delete(socket));
  });
  silentUrl = `http://127.0.0.1:${await listen(silent)}/`;
  const closed = net.createServer();
  const port = await listen(closed);
  await new Promise((r) => closed.close(r));
  dead = `http://127.0.0.1:${port}/`;
});

afterAll(async () => {
  server.closeAllConnections();
  for (const s of silentSockets) s.destroy();
  await Promise.all([new Promise((r) => server.close(r)), new Promise((r) => silent.close(r))]);
});

describe('probeHttp', () => {
  it('passes on 200 and sends the fixed and custom headers', async () => {
    const r = await probeHttp(httpCheck(`${base}/ok`, { headers: { Host: 'dichvucong.example.gov.vn', 'X-Probe': '1' } }));
    expect(r).toMatchObject({ ok: true, status: 200 });
    expect(r.durationMs).toBeGreaterThan(0);
    expect(lastHeaders).toMatchObject({
      host: 'dichvucong.example.gov.vn',
      'x-probe': '1',
      'user-agent': 'portal-failover-checker',
      'accept-encoding': 'identity',
      connection: 'close',
    });
  });

  it('opens a connection of its own for every probe: a kept-alive socket would hide a server that stopped accepting', async () => {
    okPorts.length = 0;
    for (let i = 0; i < 3; i++) expect(await probeHttp(httpCheck(`${base}/ok`))).toMatchObject({ ok: true });
    const parallel = await Promise.all([0, 1, 2].map(() => probeHttp(httpCheck(`${base}/ok`))));
    expect(parallel.every((o) => o.ok)).toBe(true);
    expect(okPorts).toHaveLength(6);
    expect(new Set(okPorts).size).toBe(6);
    expect(lastHeaders.connection).toBe('close');
  });

  it('passes a HEAD request', async () => {
    expect(await probeHttp(httpCheck(`${base}/ok`, { method: 'HEAD' }))).toMatchObject({ ok: true, status: 200 });
  });

  it('fails an unexpected status', async () => {
    const r = await probeHttp(httpCheck(`${base}/down`));
    expect(r).toMatchObject({ ok: false, reason: 'status', status: 503, detail: 'HTTP 503, expected 200' });
  });

  it('fails a 200 "service suspended" page through bodyExcludes, case-insensitively', async () => {
    const r = await probeHttp(httpCheck(`${base}/suspended`, { expect: { bodyExcludes: ['TẠM NGƯNG'] } }));
    expect(r).toMatchObject({ ok: false, reason: 'content', status: 200 });
    expect(r.detail).toContain('TẠM NGƯNG');
  });

  it('sees through a gzip body sent despite accept-encoding: identity', async () => {
    const r = await probeHttp(httpCheck(`${base}/suspended-gzip`, { expect: { bodyExcludes: ['service suspended'] } }));
    expect(r).toMatchObject({ ok: false, reason: 'content' });
  });

  it('fails when a bodyIncludes string is missing and passes when all are present', async () => {
    const missing = await probeHttp(httpCheck(`${base}/suspended`, { expect: { bodyIncludes: ['đăng nhập'] } }));
    expect(missing).toMatchObject({ ok: false, reason: 'content' });
    expect(missing.detail).toContain('đăng nhập');
    const present = await probeHttp(httpCheck(`${base}/ok`, { expect: { bodyIncludes: ['đăng nhập', 'dịch vụ công'], bodyExcludes: ['suspended'] } }));
    expect(present.ok).toBe(true);
  });

  it('fails a body over maxBodyBytes only when body rules exist', async () => {
    const ruled = await probeHttp(httpCheck(`${base}/big`, { maxBodyBytes: 1024, expect: { bodyIncludes: ['x'] } }));
    expect(ruled).toMatchObject({ ok: false, reason: 'body_too_large' });
    expect(await probeHttp(httpCheck(`${base}/big`, { maxBodyBytes: 1024 }))).toMatchObject({ ok: true });
  });

  it('fails a response slower than maxLatency', async () => {
    const r = await probeHttp(httpCheck(`${base}/slow`, { expect: { maxLatency: 100 } }));
    expect(r).toMatchObject({ ok: false, reason: 'latency', status: 200 });
  });

  it('times out on a server that accepts the connection and never answers', async () => {
    const r = await probeHttp(httpCheck(silentUrl, { timeout: 500 }));
    expect(r).toMatchObject({ ok: false, reason: 'timeout' });
    expect(r.durationMs).toBeLessThan(500 + 1000);
  });

  it('times out on a request that gets no response', async () => {
    const r = await probeHttp(httpCheck(`${base}/hang`, { timeout: 500 }));
    expect(r).toMatchObject({ ok: false, reason: 'timeout' });
    expect(r.durationMs).toBeLessThan(500 + 1000);
  });

  it('times out on a body that trickles forever', async () => {
    const r = await probeHttp(httpCheck(`${base}/trickle`, { timeout: 500 }));
    expect(r).toMatchObject({ ok: false, reason: 'timeout' });
    expect(r.durationMs).toBeLessThan(500 + 1000);
  });

  it('does not blame the portal for a stall of the checker itself: an answer that came meanwhile is read', async () => {
    const started = probeHttp(httpCheck(`${base}/ok`, { timeout: 200, expect: { bodyIncludes: ['Cổng dịch vụ công'] } }));
    // Nothing of this process runs for longer than the timeout, as in a long GC pause or on a starved core.
    const end = performance.now() + 400;
    while (performance.now() < end);
    expect(await started).toMatchObject({ ok: true, status: 200 });
  });

  it('does not count a stall of the checker as the portal’s latency (expect.maxLatency)', async () => {
    const started = probeHttp(httpCheck(`${base}/ok`, { timeout: 1_000, expect: { maxLatency: 100 } }));
    const end = performance.now() + 300;
    while (performance.now() < end);
    expect(await started).toMatchObject({ ok: true, status: 200 });
  });

  it('still times out on a hung portal while the checker stalls, and says the deadline was extended', async () => {
    const started = probeHttp(httpCheck(`${base}/hang`, { timeout: 200 }));
    const end = performance.now() + 400;
    while (performance.now() < end);
    const r = await started;
    expect(r).toMatchObject({ ok: false, reason: 'timeout' });
    expect(r.detail).toMatch(/^no complete response within 200 ms \(this process was stalled \d+ ms; the deadline was extended by as much\)$/);
  });

  it('keeps the response of a failed probe when asked (status, headers, the first bytes of the body), and nothing when it passes', async () => {
    const down = await probeHttp(httpCheck(`${base}/down`), { keepResponse: { maxBodyBytes: 4 } });
    expect(down).toMatchObject({ ok: false, reason: 'status', response: { status: 503, body: 'main', truncated: true } });
    expect(down.response?.headers?.['content-type']).toContain('text/html');
    const content = await probeHttp(httpCheck(`${base}/suspended`, { expect: { bodyExcludes: ['Suspended'] } }), { keepResponse: { maxBodyBytes: 1024 } });
    expect(content).toMatchObject({ ok: false, reason: 'content', response: { status: 200, body: SUSPENDED, truncated: false } });
    expect((await probeHttp(httpCheck(`${base}/ok`), { keepResponse: { maxBodyBytes: 1024 } })).response).toBeUndefined();
    expect((await probeHttp(httpCheck(`${base}/down`))).response).toBeUndefined();
  });

  it('reports a body cut short by the server as a reset', async () => {
    const r = await probeHttp(httpCheck(`${base}/cut`));
    expect(r).toMatchObject({ ok: false, reason: 'reset', detail: 'connection closed before the body was complete' });
  });

  it('ends early with detail "aborted" when the signal aborts', async () => {
    const ctl = new AbortController();
    setTimeout(() => ctl.abort(), 100);
    const r = await probeHttp(httpCheck(silentUrl, { timeout: 5_000 }), { signal: ctl.signal });
    expect(r).toMatchObject({ ok: false, reason: 'timeout', detail: 'aborted' });
    expect(r.durationMs).toBeLessThan(5_000);
  });

  it('reports a refused connection without leaking URL credentials', async () => {
    const r = await probeHttp(httpCheck(dead.replace('http://', 'http://admin:hunter2@')));
    expect(r).toMatchObject({ ok: false, reason: 'refused' });
    expect(r.detail).not.toContain('hunter2');
  });

  describe('redirects', () => {
    it('fails a redirect to another host, following or not, without leaking credentials', async () => {
      for (const follow of [false, true]) {
        const r = await probeHttp(httpCheck(`${base}/to-other`, { expect: { status: [200, 302] }, redirects: { follow } }));
        expect(r).toMatchObject({ ok: false, reason: 'redirect', status: 302 });
        expect(r.detail).toContain('suspended.hosting.example');
        expect(r.detail).not.toContain('secret');
      }
    });

    it('treats a different port as another host', async () => {
      const r = await probeHttp(httpCheck(`${base}/to-other-port`, { redirects: { follow: true } }));
      expect(r).toMatchObject({ ok: false, reason: 'redirect' });
    });

    it('judges a same-host 302 by the status list when not following', async () => {
      expect(await probeHttp(httpCheck(`${base}/to-same`))).toMatchObject({ ok: false, reason: 'status', status: 302 });
      expect(await probeHttp(httpCheck(`${base}/to-same`, { expect: { status: [302] } }))).toMatchObject({ ok: true, status: 302 });
    });

    it('follows a same-host redirect when asked to', async () => {
      const r = await probeHttp(httpCheck(`${base}/to-same`, { redirects: { follow: true }, expect: { bodyIncludes: ['dịch vụ công'] } }));
      expect(r).toMatchObject({ ok: true, status: 200 });
    });

    it('gives up after redirects.max hops', async () => {
      const r = await probeHttp(httpCheck(`${base}/loop`, { redirects: { follow: true, max: 3 } }));
      expect(r).toMatchObject({ ok: false, reason: 'redirect' });
      expect(r.detail).toContain('more than 3 redirects');
    });
  });

  describe('TLS', () => {
    let dir: string;
    let tlsServer: https.Server;
    let tlsUrl: string;
    let seenServername: string | false | null | undefined;

    beforeAll(async () => {
      dir = mkdtempSync(path.join(os.tmpdir(), 'pf-tls-'));
      const key = path.join(dir, 'key.pem');
      const cert = path.join(dir, 'cert.pem');
      execFileSync('openssl', [
        'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
        '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', key, '-out', cert,
      ], { stdio: 'ignore' });
      tlsServer = https.createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (req, res) => {
        seenServername = (req.socket as TLSSocket).servername;
        res.end('ok');
      });
      tlsUrl = `https://127.0.0.1:${await listen(tlsServer)}/`;
    });

    afterAll(async () => {
      tlsServer.closeAllConnections();
      await new Promise((r) => tlsServer.close(r));
      rmSync(dir, { recursive: true, force: true });
    });

    it('fails a self-signed certificate when verifying', async () => {
      expect(await probeHttp(httpCheck(tlsUrl))).toMatchObject({ ok: false, reason: 'tls' });
    });

    it('passes a self-signed certificate with verify: false and sends tls.serverName as SNI', async () => {
      const r = await probeHttp(httpCheck(tlsUrl, { tls: { verify: false, serverName: 'dichvucong.example.gov.vn' } }));
      expect(r).toMatchObject({ ok: true, status: 200 });
      expect(seenServername).toBe('dichvucong.example.gov.vn');
    });

    it('reports TLS spoken to a plain HTTP server as a TLS failure', async () => {
      expect(await probeHttp(httpCheck(`${base.replace('http:', 'https:')}/ok`))).toMatchObject({ ok: false, reason: 'tls' });
    });
  });
});
