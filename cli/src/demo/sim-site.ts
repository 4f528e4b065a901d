import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** How a simulated hosting provider treats the portal right now. */
export type SiteMode =
  | { kind: 'ok' }
  | { kind: 'refuse' }
  | { kind: 'status'; status: number }
  | { kind: 'suspended' }
  | { kind: 'hang' }
  | { kind: 'alternate' }
  | { kind: 'random'; failRate: number; seed: number };

export const PORTAL_PAGE = '<!doctype html><title>Cổng dịch vụ công trực tuyến</title><h1>Cổng dịch vụ công</h1><p>Nộp hồ sơ trực tuyến.</p>';
export const SUSPENDED_PAGE =
  '<!doctype html><title>Account suspended</title><h1>Tài khoản đã bị tạm ngưng</h1><p>This account has been suspended. Please contact billing.</p>';

/** Deterministic PRNG so a "30% random failures" run can be replayed exactly. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A portal deployment on 127.0.0.1 whose behaviour can be switched at run time: refused connections, 5xx,
 * a "suspended" page with HTTP 200, a server that accepts and never answers, or flapping.
 */
export class SimSite {
  private server: http.Server;
  private readonly sockets = new Set<Socket>();
  private mode: SiteMode = { kind: 'ok' };
  private listening = false;
  private counter = 0;
  private rand: () => number = Math.random;
  /** Vantages (x-portal-failover-vantage header) that see the site failing regardless of the mode. */
  readonly failVantages = new Set<string>();
  requests = 0;

  private constructor(
    readonly name: string,
    public port: number,
  ) {
    this.server = this.createServer();
  }

  static async start(name: string, port = 0): Promise<SimSite> {
    const s = new SimSite(name, port);
    await s.listen();
    return s;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/`;
  }

  private createServer(): http.Server {
    const server = http.createServer((req, res) => this.handle(req, res));
    server.on('connection', (sock) => {
      this.sockets.add(sock);
      sock.on('close', () => this.sockets.delete(sock));
    });
    return server;
  }

  private listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.port, '127.0.0.1', () => {
        this.server.off('error', reject);
        const addr = this.server.address();
        if (addr && typeof addr === 'object') this.port = addr.port;
        this.listening = true;
        resolve();
      });
    });
  }

  private async unlisten(): Promise<void> {
    if (!this.listening) return;
    this.listening = false;
    const closed = new Promise<void>((r) => this.server.close(() => r()));
    for (const s of this.sockets) s.destroy();
    await closed;
    this.server = this.createServer();
  }

  async setMode(mode: SiteMode): Promise<void> {
    const wasHang = this.mode.kind === 'hang';
    this.mode = mode;
    this.counter = 0;
    if (mode.kind === 'random') this.rand = mulberry32(mode.seed);
    if (wasHang) for (const s of this.sockets) s.destroy();
    if (mode.kind === 'refuse') await this.unlisten();
    else if (!this.listening) await this.listen();
  }

  get currentMode(): SiteMode {
    return this.mode;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    this.requests++;
    req.resume();
    const vantage = String(req.headers['x-portal-failover-vantage'] ?? '');
    if (this.failVantages.has(vantage)) return void this.send(res, 503, 'unavailable from this vantage');
    const m = this.mode;
    switch (m.kind) {
      case 'hang':
        return; // hold the socket open, never answer
      case 'status':
        return void this.send(res, m.status, `<h1>${m.status}</h1>`);
      case 'suspended':
        return void this.send(res, 200, SUSPENDED_PAGE);
      case 'alternate':
        return void this.send(res, this.counter++ % 2 === 0 ? 503 : 200, PORTAL_PAGE);
      case 'random':
        return void this.send(res, this.rand() < m.failRate ? 503 : 200, PORTAL_PAGE);
      default:
        return void this.send(res, 200, PORTAL_PAGE);
    }
  }

  private send(res: ServerResponse, status: number, body: string): void {
    res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', connection: 'close' });
    res.end(body);
  }

  async close(): Promise<void> {
    this.mode = { kind: 'ok' };
    await this.unlisten();
  }
}
