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
 * A pass-through HTTP proxy in front of a provider API (PowerDNS here) that records every request, so tests can
 * count the writes a controller really sent ("exactly one PATCH"), not what it claims to have sent.
 */
export async function startRecordingProxy(target: string): Promise<{ url: string; requests: RecordedRequest[]; writes(pathPart?: string): RecordedRequest[];
  /** Writes the upstream accepted (2xx): the changes that really happened. */
  acceptedWrites(pathPart?: string): RecordedRequest[]; close(): Promise<void> }> {
  const requests: RecordedRequest[] = [];
  const upstream = new URL(target);
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const rec: RecordedRequest = { method: req.method ?? '', path: req.url ?? '', body: body.toString('utf8'), at: Date.now() };
      requests.push(rec);
      const out = http.request(
        { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, host: upstream.host } },
        (up) => {
          rec.status = up.statusCode;
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
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    writes: (pathPart) => requests.filter((r) => r.method !== 'GET' && (!pathPart || r.path.includes(pathPart))),
    acceptedWrites: (pathPart) =>
      requests.filter((r) => r.method !== 'GET' && (!pathPart || r.path.includes(pathPart)) && r.status !== undefined && r.status < 300),
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}
