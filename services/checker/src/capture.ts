import http from 'node:http';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { CheckConfig, CheckResult, HttpCheckConfig, ResponseCapture } from '@portal-failover/shared';

/**
 * Evidence of a cut: when an http check turns from up to down, the checker fetches the URL once more and keeps
 * status, headers, the first `maxBodyBytes` of the body and a summary of the TLS certificate — what a provider's
 * "suspended" page or error page looked like at that moment. The capture request never follows redirects and
 * accepts any certificate (it records the verification error instead), because its job is to show what was
 * served, not to judge it; the probe already judged.
 */
export class CaptureOnFailure {
  private readonly lastOk = new Map<string, boolean>();
  private readonly lastCapture = new Map<string, number>();

  constructor(
    private readonly opts: { maxBodyBytes: number; timeoutMs?: number; minGapMs?: number; save: (c: ResponseCapture) => Promise<unknown> },
  ) {}

  /** Called with every probe result; returns the capture promise when this one turned the check from up to down. */
  observe(cfg: CheckConfig, result: CheckResult): Promise<void> | undefined {
    const id = `${result.portal}.${result.site}.${result.check}`;
    const wasOk = this.lastOk.get(id);
    this.lastOk.set(id, result.ok);
    if (result.ok || wasOk !== true || cfg.type !== 'http') return undefined;
    const last = this.lastCapture.get(id) ?? 0;
    if (result.at - last < (this.opts.minGapMs ?? 60_000)) return undefined;
    this.lastCapture.set(id, result.at);
    return captureHttp(cfg, this.opts.maxBodyBytes, this.opts.timeoutMs ?? Math.max(cfg.timeout, 2_000))
      .then((seen) => this.opts.save({ portal: result.portal, site: result.site, check: result.check, vantage: result.vantage, at: result.at, probe: { reason: result.reason, detail: result.detail }, url: cfg.url, ...seen }))
      .then(() => undefined);
  }
}

type Seen = Omit<ResponseCapture, 'portal' | 'site' | 'check' | 'vantage' | 'at' | 'probe' | 'url'>;

export function captureHttp(cfg: Pick<HttpCheckConfig, 'url' | 'headers' | 'tls'>, maxBodyBytes: number, timeoutMs: number): Promise<Seen> {
  return new Promise((resolve) => {
    const u = new URL(cfg.url);
    const isHttps = u.protocol === 'https:';
    const options: https.RequestOptions = { method: 'GET', headers: { ...cfg.headers, 'user-agent': 'portal-failover-evidence' }, timeout: timeoutMs };
    if (isHttps) Object.assign(options, { rejectUnauthorized: false, servername: cfg.tls?.serverName ?? u.hostname });
    let done = false;
    const finish = (s: Seen) => {
      if (!done) {
        done = true;
        resolve(s);
      }
    };
    const req = (isHttps ? https : http).request(u, options, (res) => {
      let tls: Seen['tls'];
      const sock = res.socket as TLSSocket;
      if (isHttps && typeof sock.getPeerCertificate === 'function') {
        const cert = sock.getPeerCertificate();
        tls = {
          subject: cert.subject ? Object.entries(cert.subject).map(([k, v]) => `${k}=${String(v)}`).join(', ') : undefined,
          issuer: cert.issuer ? Object.entries(cert.issuer).map(([k, v]) => `${k}=${String(v)}`).join(', ') : undefined,
          validFrom: cert.valid_from,
          validTo: cert.valid_to,
          fingerprint256: cert.fingerprint256,
          authorized: sock.authorized,
          authorizationError: sock.authorizationError ? String(sock.authorizationError) : undefined,
        };
      }
      const chunks: Buffer[] = [];
      let bytes = 0;
      let truncated = false;
      const headers: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers[k] = v;
      const end = () => {
        const body = Buffer.concat(chunks).subarray(0, maxBodyBytes);
        finish({ status: res.statusCode, headers, body: body.toString('utf8'), bodyBytes: bytes, truncated, tls });
      };
      res.on('data', (c: Buffer) => {
        bytes += c.length;
        if (bytes <= maxBodyBytes) chunks.push(c);
        else if (!truncated) {
          chunks.push(c.subarray(0, c.length - (bytes - maxBodyBytes)));
          truncated = true;
          end();
          res.destroy();
        }
      });
      res.on('end', end);
      res.on('error', (err) => finish({ status: res.statusCode, headers, error: err.message, tls }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs}ms`)));
    req.on('error', (err: NodeJS.ErrnoException) => finish({ error: err.code ? `${err.code}: ${err.message}` : err.message }));
    req.end();
  });
}
