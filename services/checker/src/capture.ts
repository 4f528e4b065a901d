import http from 'node:http';
import https from 'node:https';
import { seenResponse, type CheckConfig, type CheckResult, type HttpCheckConfig, type ResponseCapture, type SeenResponse } from '@portal-failover/shared';

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
type CheckNames = Pick<CheckResult, 'portal' | 'site' | 'check'>;
const idOf = (c: CheckNames) => `${c.portal}.${c.site}.${c.check}`;

export class CaptureOnFailure {
  private readonly lastOk = new Map<string, boolean>();
  private readonly lastCapture = new Map<string, number>();

  constructor(
    private readonly opts: { maxBodyBytes: number; timeoutMs?: number; minGapMs?: number; save: (c: ResponseCapture) => Promise<unknown> },
  ) {}

  /** What a probe of this check starting `at` should keep of a failing response: only one that may be captured. */
  keepResponse(cfg: CheckConfig, check: CheckNames, at: number): { maxBodyBytes: number } | undefined {
    const id = idOf(check);
    if (cfg.type !== 'http' || this.lastOk.get(id) !== true || !this.gapPassed(id, at)) return undefined;
    return { maxBodyBytes: this.opts.maxBodyBytes };
  }

  /**
   * Called with every probe result (and the failing response the probe kept, if any); returns the capture promise
   * when this one turned the check from up to down.
   */
  observe(cfg: CheckConfig, result: CheckResult, response?: SeenResponse): Promise<void> | undefined {
    const id = idOf(result);
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

/**
 * The second request: GET without following redirects, any certificate accepted (the summary records the
 * verification error), the whole capture within `timeoutMs`. Never rejects: what went wrong is the capture's `error`.
 */
export function captureHttp(cfg: Pick<HttpCheckConfig, 'url' | 'headers' | 'tls'>, maxBodyBytes: number, timeoutMs: number): Promise<SeenResponse> {
  const u = new URL(cfg.url);
  const isHttps = u.protocol === 'https:';
  const signal = AbortSignal.timeout(timeoutMs);
  const options: https.RequestOptions = { method: 'GET', headers: { ...cfg.headers, 'user-agent': 'portal-failover-evidence' }, signal };
  if (isHttps) Object.assign(options, { rejectUnauthorized: false, servername: cfg.tls?.serverName ?? u.hostname });
  return new Promise((resolve) => {
    const req = (isHttps ? https : http).request(u, options, (res) => {
      // Errors while reading are seenResponse's to report.
      res.on('error', () => undefined);
      void seenResponse(res, maxBodyBytes, signal)
        .then(resolve)
        .finally(() => req.destroy());
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ error: signal.aborted ? `no answer within ${timeoutMs}ms` : err.code ? `${err.code}: ${err.message}` : err.message }));
    req.end();
  });
}
