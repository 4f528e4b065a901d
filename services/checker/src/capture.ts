import http from 'node:http';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import { tlsSummary, type CheckConfig, type CheckResult, type HttpCheckConfig, type ResponseCapture, type SeenResponse } from '@portal-failover/shared';

/**
 * Evidence of a cut: when an http check turns from up to down, the checker keeps status, headers, the first
 * `maxBodyBytes` of the body and a summary of the TLS certificate — what a provider's "suspended" page or error
 * page looked like at that moment.
 *
 * It keeps the failing probe's own response (the checker asks for it when a probe may turn the check down: see
 * `keepResponse`). A second request was made before; it was one more request to the portal between two probes, and
 * a portal that answers every other request with an error then showed the checker two failures in a row: at
 * failureThreshold 2 that flapping portal failed over. A second request is still made when the probe got no HTTP
 * answer to keep (refused, reset, timeout, TLS handshake): it never follows redirects and accepts any certificate
 * (it records the verification error instead), because its job is to show what was served, not to judge it.
 */
export class CaptureOnFailure {
  private readonly lastOk = new Map<string, boolean>();
  private readonly lastCapture = new Map<string, number>();

  constructor(
    private readonly opts: { maxBodyBytes: number; timeoutMs?: number; minGapMs?: number; save: (c: ResponseCapture) => Promise<unknown> },
  ) {}

  /** What a probe of this check starting `at` should keep of a failing response: only one that may be captured. */
  keepResponse(cfg: CheckConfig, id: string, at: number): { maxBodyBytes: number } | undefined {
    if (cfg.type !== 'http' || this.lastOk.get(id) !== true || !this.gapPassed(id, at)) return undefined;
    return { maxBodyBytes: this.opts.maxBodyBytes };
  }

  /**
   * Called with every probe result (and the failing response the probe kept, if any); returns the capture promise
   * when this one turned the check from up to down.
   */
  observe(cfg: CheckConfig, result: CheckResult, response?: SeenResponse): Promise<void> | undefined {
    const id = `${result.portal}.${result.site}.${result.check}`;
    const wasOk = this.lastOk.get(id);
    this.lastOk.set(id, result.ok);
    if (result.ok || wasOk !== true || cfg.type !== 'http' || !this.gapPassed(id, result.at)) return undefined;
    this.lastCapture.set(id, result.at);
    const seen: Promise<SeenResponse & Pick<ResponseCapture, 'from'>> = response
      ? Promise.resolve({ ...response, from: 'probe' })
      : captureHttp(cfg, this.opts.maxBodyBytes, this.opts.timeoutMs ?? Math.max(cfg.timeout, 2_000)).then((s) => ({ ...s, from: 'request' }));
    return seen
      .then((s) => this.opts.save({ portal: result.portal, site: result.site, check: result.check, vantage: result.vantage, at: result.at, probe: { reason: result.reason, detail: result.detail }, url: cfg.url, ...s }))
      .then(() => undefined);
  }

  private gapPassed(id: string, at: number): boolean {
    const last = this.lastCapture.get(id);
    return last === undefined || at - last >= (this.opts.minGapMs ?? 60_000);
  }
}

type Seen = SeenResponse;

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
      const sock = res.socket as TLSSocket;
      const tls = isHttps && typeof sock.getPeerCertificate === 'function' ? tlsSummary(sock) : undefined;
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
