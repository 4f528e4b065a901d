import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import tls, { type TLSSocket } from 'node:tls';
import type { TlsCheckConfig } from '../config/schema';
import type { ProbeOutcome } from '../core/observation';
import { networkFailure, type ProbeOptions, type Verdict } from './tcp.check';
import { describeIdentity, identityProblem, peerIdentity, trustedCas } from './tls-identity';
import { stallAwareDeadline, stallNote } from '../runtime/deadline';

const DAY_MS = 86_400_000;

/**
 * A TLS handshake and a judgement of the certificate: down when the handshake fails, the chain or the host name
 * does not verify, the certificate expired, the issuer differs or no SPKI pin matches. Fewer than `minDaysLeft`
 * days left is only a warning (metric and alert): a certificate that still works is no reason to move traffic.
 */
export async function probeTls(check: TlsCheckConfig, opts: ProbeOptions = {}, now: () => number = Date.now): Promise<ProbeOutcome> {
  const started = performance.now();
  let ca: string[] | undefined;
  try {
    ca = await trustedCas(check.ca);
  } catch (err) {
    return { ok: false, reason: 'error', detail: `cannot read the CA bundle: ${(err as Error).message}`, durationMs: performance.now() - started };
  }
  const host = check.host.replace(/^\[(.*)\]$/, '$1');
  const name = check.serverName ?? host;
  return new Promise((resolve) => {
    // Verification is judged after the handshake (not by rejectUnauthorized) so the reason can name the
    // certificate that was presented: "issued by <hosting provider>" is what the on-call person needs to read.
    const socket = tls.connect({
      host,
      port: check.port,
      servername: isIP(name) ? undefined : name,
      ca,
      rejectUnauthorized: false,
    });
    const finish = (verdict: Verdict) => {
      deadline.cancel();
      opts.signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve({ ...verdict, durationMs: performance.now() - started });
    };
    const deadline = stallAwareDeadline(check.timeout, (stalled) =>
      finish({ ok: false, reason: 'timeout', detail: `no TLS handshake with ${check.host}:${check.port} within ${check.timeout} ms${stallNote(stalled)}` }),
    );
    const onAbort = () => finish({ ok: false, reason: 'timeout', detail: 'aborted' });
    socket.once('secureConnect', () => finish(judge(socket, check, name, now())));
    socket.on('error', (err) => finish(networkFailure(err)));
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    if (opts.signal?.aborted) onAbort();
  });
}

function judge(socket: TLSSocket, check: TlsCheckConfig, name: string, now: number): Verdict {
  const id = peerIdentity(socket);
  if (!id) return { ok: false, reason: 'tls', detail: 'the server presented no certificate' };
  const certExpiresAt = id.notAfter;
  // Expiry and name first: they say what is wrong in words, where the chain error is only a code.
  if (now > certExpiresAt) return { ok: false, reason: 'tls', certExpiresAt, detail: `certificate expired at ${new Date(certExpiresAt).toISOString()}; ${describeIdentity(id)}` };
  const nameError = tls.checkServerIdentity(name, socket.getPeerCertificate());
  if (nameError) return { ok: false, reason: 'tls', certExpiresAt, detail: `${nameError.message}; ${describeIdentity(id)}` };
  if (!socket.authorized) {
    const why = socket.authorizationError instanceof Error ? socket.authorizationError.message : String(socket.authorizationError);
    return { ok: false, reason: 'tls', certExpiresAt, detail: `certificate chain does not verify (${why}); ${describeIdentity(id)}` };
  }
  const problem = identityProblem(id, { issuer: check.expect.issuer, spkiSha256: check.expect.spkiSha256 }, now);
  if (problem) return { ok: false, reason: 'tls', certExpiresAt, detail: problem };
  const daysLeft = Math.floor((certExpiresAt - now) / DAY_MS);
  const warning = daysLeft < check.expect.minDaysLeft ? `certificate expires in ${daysLeft} days (${new Date(certExpiresAt).toISOString()}), fewer than minDaysLeft ${check.expect.minDaysLeft}` : undefined;
  return { ok: true, certExpiresAt, warning };
}
