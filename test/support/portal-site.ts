import fs from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { PORTAL_PAGE } from '../../cli/src/demo/sim-site';

export interface SiteCertificate {
  key: string;
  cert: string;
}

/**
 * A portal deployment on 127.0.0.1 with the parts the detection checks look at: its TLS certificate (swappable
 * at run time, as a hosting provider swaps it for its own), the files it serves (the liveness token under
 * /.well-known/portal-liveness, a version document) and response headers (a content version).
 */
export class PortalSite {
  private readonly sockets = new Set<Socket>();
  /** Path -> body served with 200; other paths get the portal page, except under /.well-known/ (404). */
  readonly files = new Map<string, string>();
  /** Path -> file on disk read at each request, as a web server serves a file a cron job rewrites. */
  readonly diskFiles = new Map<string, string>();
  /** Extra headers on every response. */
  readonly headers: Record<string, string> = {};
  requests = 0;

  private constructor(
    private readonly server: http.Server | https.Server,
    readonly port: number,
    readonly secure: boolean,
  ) {}

  static async start(certificate?: SiteCertificate): Promise<PortalSite> {
    let site: PortalSite | undefined;
    const handler = (req: IncomingMessage, res: ServerResponse) => site!.handle(req, res);
    const server = certificate ? https.createServer({ key: certificate.key, cert: certificate.cert }, handler) : http.createServer(handler);
    const sockets = new Set<Socket>();
    server.on('connection', (sock: Socket) => {
      sockets.add(sock);
      sock.on('close', () => sockets.delete(sock));
    });
    const port = await new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const addr = server.address();
        resolve(addr && typeof addr === 'object' ? addr.port : 0);
      });
    });
    site = new PortalSite(server, port, certificate !== undefined);
    for (const s of sockets) site.sockets.add(s);
    server.on('connection', (sock: Socket) => {
      site!.sockets.add(sock);
      sock.on('close', () => site!.sockets.delete(sock));
    });
    return site;
  }

  get url(): string {
    return `${this.secure ? 'https' : 'http'}://127.0.0.1:${this.port}/`;
  }

  /** New handshakes present this certificate from now on; open connections are closed so none keeps the old one. */
  setCertificate(certificate: SiteCertificate): void {
    if (!(this.server instanceof https.Server)) throw new Error('not an HTTPS site');
    this.server.setSecureContext({ key: certificate.key, cert: certificate.cert });
    for (const s of this.sockets) s.destroy();
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    this.requests++;
    req.resume();
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const disk = this.diskFiles.get(path);
    let file = this.files.get(path);
    if (disk !== undefined) {
      try {
        file = fs.readFileSync(disk, 'utf8');
      } catch {
        file = undefined;
      }
    }
    if (file === undefined && path.startsWith('/.well-known/')) {
      res.writeHead(404, { 'content-type': 'text/plain', connection: 'close' });
      return void res.end('not found');
    }
    const type = file === undefined ? 'text/html; charset=utf-8' : path.endsWith('.json') || path.includes('liveness') ? 'application/json' : 'text/plain';
    res.writeHead(200, { 'content-type': type, connection: 'close', ...this.headers });
    res.end(file ?? PORTAL_PAGE);
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((r) => this.server.close(() => r()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }
}
