import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';

/**
 * A webhook receiver as a real integration would write one: it checks the HMAC signature of the body, applies a
 * switch it accepts (its "active site" becomes `to`), and serves that state for the provider's verify GET. Every
 * request is recorded. Answers can be scripted (`failNext`) to test retries, and the state can be changed behind
 * the provider's back.
 */

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** The X-Portal-Failover-Signature matched the body. */
  signatureOk: boolean;
  status: number;
}

export interface WebhookReceiver {
  url: string;
  verifyUrl: string;
  /** Serves {"active": ...} instead of {"site": ...}. */
  verifyActiveUrl: string;
  requests: ReceivedRequest[];
  /** POSTs only. */
  posts(): ReceivedRequest[];
  site: string | undefined;
  /** The next POSTs get these statuses (and are not applied), in order. */
  failNext(...statuses: number[]): void;
  /** Delays every answer by this many ms (timeout tests). */
  delayMs: number;
  close(): Promise<void>;
}

export function expectedSignature(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export async function startWebhookReceiver(secret: string, initialSite?: string): Promise<WebhookReceiver> {
  const scripted: number[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const receiver: WebhookReceiver = {
    url: '',
    verifyUrl: '',
    verifyActiveUrl: '',
    requests: [],
    posts: () => receiver.requests.filter((r) => r.method === 'POST'),
    site: initialSite,
    failNext: (...statuses) => scripted.push(...statuses),
    delayMs: 0,
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of timers) clearTimeout(t);
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const given = String(req.headers['x-portal-failover-signature'] ?? '');
      const want = expectedSignature(body, secret);
      const signatureOk = given.length === want.length && timingSafeEqual(Buffer.from(given), Buffer.from(want));
      const record: ReceivedRequest = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body, signatureOk, status: 0 };
      receiver.requests.push(record);
      const answer = (status: number, json: unknown) => {
        record.status = status;
        const send = () => {
          res.writeHead(status, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify(json));
        };
        if (receiver.delayMs > 0) {
          const t = setTimeout(() => {
            timers.delete(t);
            send();
          }, receiver.delayMs);
          timers.add(t);
        } else {
          send();
        }
      };
      if (req.method === 'GET' && req.url === '/state') return answer(200, { site: receiver.site, since: 'test' });
      if (req.method === 'GET' && req.url === '/state-active') return answer(200, { active: receiver.site });
      if (req.method !== 'POST' || req.url !== '/switch') return answer(404, { error: 'not found' });
      const status = scripted.shift();
      if (status !== undefined) return answer(status, { error: `scripted ${status}` });
      if (!signatureOk) return answer(401, { error: 'bad signature' });
      try {
        const parsed = JSON.parse(body) as { to?: unknown };
        if (typeof parsed.to !== 'string') return answer(400, { error: 'no "to"' });
        receiver.site = parsed.to;
        return answer(200, { ok: true, site: parsed.to });
      } catch {
        return answer(400, { error: 'not JSON' });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  receiver.url = `http://127.0.0.1:${port}/switch`;
  receiver.verifyUrl = `http://127.0.0.1:${port}/state`;
  receiver.verifyActiveUrl = `http://127.0.0.1:${port}/state-active`;
  return receiver;
}
