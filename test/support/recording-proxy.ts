import http from 'node:http';

export interface RecordedRequest {
  method: string;
  path: string;
  body: string;
  at: number;
  /** Upstream status, filled in when the answer arrives. */
  status?: number;
}

/**
 * Points where a test can act on a request in flight: before it is forwarded, and after the upstream answered but
 * before the answer goes back (the upstream has already applied a write then). A hook may wait (holding the request
 * at that point) or pause a server; `inject` answers a request itself with that status, never forwarding it.
 */
export interface ProxyHooks {
  beforeForward?(r: RecordedRequest): void | Promise<void>;
  beforeAnswer?(r: RecordedRequest): void | Promise<void>;
  inject?(r: RecordedRequest): number | undefined;
}

/**
 * A pass-through HTTP proxy in front of a provider API (PowerDNS here) that records every request, so tests can
 * count the writes a controller really sent ("exactly one PATCH"), not what it claims to have sent.
 */
export async function startRecordingProxy(target: string): Promise<{ url: string; requests: RecordedRequest[]; writes(pathPart?: string): RecordedRequest[];
  /** Set or replace at any time; {} passes everything through untouched. */
  hooks: ProxyHooks;
  /** Writes the upstream accepted (2xx): the changes that really happened. */
  acceptedWrites(pathPart?: string): RecordedRequest[]; close(): Promise<void> }> {
  const requests: RecordedRequest[] = [];
  const upstream = new URL(target);
  const self = { hooks: {} as ProxyHooks };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks);
      const rec: RecordedRequest = { method: req.method ?? '', path: req.url ?? '', body: body.toString('utf8'), at: Date.now() };
      requests.push(rec);
      const hooks = self.hooks;
      const injected = hooks.inject?.(rec);
      if (injected !== undefined) {
        rec.status = injected;
        res.writeHead(injected, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: `injected by the test proxy (${injected})` }));
        return;
      }
      await hooks.beforeForward?.(rec);
      // A client that gave up while the request was held never sent it, as far as the upstream is concerned.
      if (!res.socket || res.socket.destroyed) return;
      const out = http.request(
        { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, host: upstream.host } },
        async (up) => {
          rec.status = up.statusCode;
          await hooks.beforeAnswer?.(rec);
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      out.on('error', (err) => {
        res.writeHead(502);
        res.end(String(err));
      });
      out.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return Object.assign(self, {
    url: `http://127.0.0.1:${port}`,
    requests,
    writes: (pathPart?: string) => requests.filter((r) => r.method !== 'GET' && (!pathPart || r.path.includes(pathPart))),
    acceptedWrites: (pathPart?: string) =>
      requests.filter((r) => r.method !== 'GET' && (!pathPart || r.path.includes(pathPart)) && r.status !== undefined && r.status < 300),
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  });
}
