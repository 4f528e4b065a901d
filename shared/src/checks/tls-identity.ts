import { createHash, X509Certificate } from 'node:crypto';
import fs from 'node:fs/promises';
import type { Socket } from 'node:net';
import tls, { TLSSocket, type DetailedPeerCertificate } from 'node:tls';
import type { SeenResponse } from '../core/observation';

/**
 * What a probe learned about the certificate a server presented, and the rules that judge it. Shared by the
 * `tls` check and the `http` check's `expect.tlsIssuer` / `expect.spkiSha256`, so both say the same thing about
 * a hosting provider that swapped the portal's certificate for its own.
 */
export interface PeerIdentity {
  subject: string;
  /** The leaf's issuer distinguished name, one `KEY=value` per line as node prints it. */
  issuer: string;
  /** Epoch ms of the leaf's notAfter. */
  notAfter: number;
  /** base64 SHA-256 of the SubjectPublicKeyInfo of every certificate in the presented chain, leaf first. */
  spkiPins: string[];
}

export interface IdentityExpectations {
  issuer?: string;
  spkiSha256?: string[];
}

/** base64 SHA-256 of a certificate's SubjectPublicKeyInfo: the HPKP pin format (`openssl ... | base64`). */
export function spkiSha256(cert: X509Certificate): string {
  return createHash('sha256').update(cert.publicKey.export({ type: 'spki', format: 'der' })).digest('base64');
}

/**
 * Reads a pin as people copy it: base64 (what `openssl dgst -sha256 -binary | base64` prints, optionally with the
 * `sha256/` prefix of HPKP and curl) or 64 hex digits. Returns the canonical base64, or undefined when unparsable.
 */
export function parsePin(text: string): string | undefined {
  const t = text.trim().replace(/^sha256\//i, '');
  if (/^[0-9a-f]{64}$/i.test(t)) return Buffer.from(t, 'hex').toString('base64');
  if (!/^[A-Za-z0-9+/]{43}=$/.test(t)) return undefined;
  const bytes = Buffer.from(t, 'base64');
  return bytes.length === 32 ? bytes.toString('base64') : undefined;
}

/** The identity of the certificate chain on a connected TLS socket, or undefined when the server sent none. */
export function peerIdentity(socket: TLSSocket): PeerIdentity | undefined {
  const leaf = socket.getPeerCertificate(true);
  if (!leaf || !leaf.raw) return undefined;
  const chain: DetailedPeerCertificate[] = [];
  // A self-signed root points at itself; the length bound guards against a malformed cycle.
  for (let c: DetailedPeerCertificate | undefined = leaf; c?.raw && chain.length < 10; c = c.issuerCertificate) {
    if (chain.some((seen) => seen.raw.equals(c!.raw))) break;
    chain.push(c);
  }
  const x509 = chain.map((c) => new X509Certificate(c.raw));
  return {
    subject: x509[0].subject,
    issuer: x509[0].issuer,
    notAfter: Date.parse(x509[0].validTo),
    spkiPins: x509.map(spkiSha256),
  };
}

/** `CN=Portal CA, O=City` or `O=City\nCN=Portal CA` as sorted `key=value` pairs, keys upper-cased. */
function dnPairs(dn: string): string[] {
  return dn
    .split(/[\n,]/)
    .map((part) => part.trim())
    .filter((part) => part.includes('='))
    .map((part) => {
      const at = part.indexOf('=');
      return `${part.slice(0, at).trim().toUpperCase()}=${part.slice(at + 1).trim()}`;
    })
    .sort();
}

/** The issuer's common name, for messages and for matching a bare name. */
export function commonName(dn: string): string | undefined {
  return dnPairs(dn)
    .find((p) => p.startsWith('CN='))
    ?.slice(3);
}

/** True when `expected` (a common name, or a full distinguished name) names the issuer `dn`. */
export function issuerMatches(dn: string, expected: string): boolean {
  if (!expected.includes('=')) return commonName(dn) === expected.trim();
  const want = dnPairs(expected);
  const have = dnPairs(dn);
  return want.length === have.length && want.every((p, i) => p === have[i]);
}

/** One line naming the certificate, so a swapped certificate is recognisable in the reason and the audit. */
export function describeIdentity(id: PeerIdentity): string {
  const issuer = commonName(id.issuer) ?? id.issuer.replace(/\n/g, ', ');
  return `certificate issued by "${issuer}", expires ${new Date(id.notAfter).toISOString()}`;
}

/** Why the presented certificate is not the portal's, or undefined when it passes every expectation. */
export function identityProblem(id: PeerIdentity, expect: IdentityExpectations, now: number): string | undefined {
  if (now > id.notAfter) return `certificate expired at ${new Date(id.notAfter).toISOString()}`;
  if (expect.issuer !== undefined && !issuerMatches(id.issuer, expect.issuer)) {
    return `${describeIdentity(id)}; expected issuer "${expect.issuer}"`;
  }
  if (expect.spkiSha256 !== undefined && !id.spkiPins.some((p) => expect.spkiSha256!.includes(p))) {
    return `no certificate in the chain matches the configured SPKI pins (${describeIdentity(id)}, leaf pin ${id.spkiPins[0]})`;
  }
  return undefined;
}

/**
 * The trust store for a check: the system roots plus the PEM bundle at `caPath` (a city's private CA), or the
 * default store when none is configured. Read at each probe so a renewed bundle is picked up without a restart.
 */
export async function trustedCas(caPath: string | undefined): Promise<string[] | undefined> {
  if (caPath === undefined) return undefined;
  return [...tls.rootCertificates, await fs.readFile(caPath, 'utf8')];
}

/** The certificate a TLS socket was shown, as evidence of a cut keeps it (a response capture's `tls`); undefined for plain TCP. */
export function tlsSummary(sock: Socket | null): SeenResponse['tls'] {
  if (!(sock instanceof TLSSocket)) return undefined;
  const cert = sock.getPeerCertificate();
  const names = (o: object | undefined) => (o ? Object.entries(o).map(([k, v]) => `${k}=${String(v)}`).join(', ') : undefined);
  return {
    subject: names(cert.subject),
    issuer: names(cert.issuer),
    validFrom: cert.valid_from,
    validTo: cert.valid_to,
    fingerprint256: cert.fingerprint256,
    authorized: sock.authorized,
    authorizationError: sock.authorizationError ? String(sock.authorizationError) : undefined,
  };
}
