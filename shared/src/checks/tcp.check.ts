import net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { TcpCheckConfig } from '../config/schema';
import type { FailureReason, ProbeOutcome } from '../core/observation';
import type { VersionSource } from './content-version';
import { stallAwareDeadline, stallNote } from '../runtime/deadline';

export interface ProbeOptions {
  /** Aborting ends the probe at once, reported like a timeout with detail 'aborted'. */
  signal?: AbortSignal;
  /** The portal the check belongs to: a liveness token must name it. */
  portal?: string;
  /** Read the site's content version from the response (another site's readiness compares against it). */
  version?: VersionSource;
  /**
   * HTTP only: when the probe fails on a response it got, keep that response (status, headers, the first
   * `maxBodyBytes` of the body, the certificate) in `outcome.response`, so evidence of the cut needs no second
   * request. Read within the probe's own deadline.
   */
  keepResponse?: { maxBodyBytes: number };
}

export type Verdict = Omit<ProbeOutcome, 'durationMs'>;

/** Removes `user:pass@` from every URL in a message: details end up in logs, metrics and the API. */
export function redact(text: string): string {
  return text.replace(/\/\/[^/\s@]*@/g, '//');
}

/** Maps a connection-level error (shared by the TCP and HTTP probes) to a failure reason. */
export function networkFailure(err: unknown): Verdict {
  const code = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : '';
  const message = err instanceof Error ? err.message : String(err);
  return { ok: false, reason: reasonFor(code, message), detail: redact(message) };
}

function reasonFor(code: string, message: string): FailureReason {
  switch (code) {
    case 'ECONNREFUSED':
      return 'refused';
    case 'ECONNRESET':
    case 'EPIPE':
      return 'reset';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'dns';
  }
  // Certificate codes (DEPTH_ZERO_SELF_SIGNED_CERT, CERT_HAS_EXPIRED, ERR_TLS_CERT_ALTNAME_INVALID, ...) and
  // OpenSSL handshake errors, which arrive as EPROTO or ERR_SSL_* with an "SSL routines" message.
  if (/CERT|SSL|TLS|UNABLE_TO_(VERIFY|GET_ISSUER)/.test(code) || /ssl routines|handshake/i.test(message)) return 'tls';
  if (/socket hang up/i.test(message)) return 'reset';
  return 'error';
}

export function probeTcp(check: TcpCheckConfig, opts: ProbeOptions = {}): Promise<ProbeOutcome> {
  const started = performance.now();
  // A bracketed IPv6 literal is what people copy from URLs; net.connect wants it bare.
  const host = check.host.replace(/^\[(.*)\]$/, '$1');
  return new Promise((resolve) => {
    const socket = net.connect({ host, port: check.port });
    const finish = (verdict: Verdict) => {
      deadline.cancel();
      opts.signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve({ ...verdict, durationMs: performance.now() - started });
    };
    const deadline = stallAwareDeadline(check.timeout, (stalled) =>
      finish({ ok: false, reason: 'timeout', detail: `no connection to ${check.host}:${check.port} within ${check.timeout} ms${stallNote(stalled)}` }),
    );
    const onAbort = () => finish({ ok: false, reason: 'timeout', detail: 'aborted' });
    socket.once('connect', () => finish({ ok: true }));
    // `on`, not `once`: a second error event without a listener would crash the process.
    socket.on('error', (err) => finish(networkFailure(err)));
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    if (opts.signal?.aborted) onAbort();
  });
}
