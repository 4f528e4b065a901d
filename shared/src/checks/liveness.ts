import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';

/**
 * The signed liveness token: the one thing a hosting provider cannot fake. The portal's own host signs
 * `portal|issuedAt` with an Ed25519 key only it holds and publishes the result at /.well-known/portal-liveness;
 * a provider serving a cached copy or its own page cannot produce a fresh signature, so the copy goes stale
 * (older than maxAge) or unsigned.
 */
export const LIVENESS_PATH = '/.well-known/portal-liveness';

/** How far in the future issuedAt may be (clocks of the portal's host and the checker differ a little). */
export const LIVENESS_CLOCK_SKEW_MS = 60_000;

export interface LivenessToken {
  portal: string;
  /** ISO 8601 UTC time of signing. */
  issuedAt: string;
  /** base64 Ed25519 signature over the UTF-8 bytes of `portal|issuedAt`. */
  signature: string;
}

export function livenessMessage(portal: string, issuedAt: string): Buffer {
  return Buffer.from(`${portal}|${issuedAt}`, 'utf8');
}

export function generateLivenessKeys(): { privateKeyPem: string; publicKeyPem: string; publicKeyBase64: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    publicKeyBase64: publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
  };
}

/** Reads a private key PEM and insists on Ed25519, so a wrong key file is caught when the signer starts. */
export function livenessPrivateKey(pem: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch {
    throw new Error('is not a private key in PEM form (make one with `portal-failover liveness keygen`)');
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`is a ${key.asymmetricKeyType ?? 'symmetric'} key; the liveness token needs Ed25519`);
  return key;
}

export function signLiveness(key: KeyObject, portal: string, at: Date): LivenessToken {
  const issuedAt = at.toISOString();
  return { portal, issuedAt, signature: sign(null, livenessMessage(portal, issuedAt), key).toString('base64') };
}

/**
 * Parses a public key as configured: a PEM `PUBLIC KEY` block or the base64 of its DER (the one line keygen
 * prints). Returns the key or a reason that names what is wrong, for the config error.
 */
export function parseLivenessPublicKey(text: string): { ok: true; key: KeyObject } | { ok: false; error: string } {
  const t = text.trim();
  if (/PRIVATE KEY/.test(t)) return { ok: false, error: 'is a private key; configure the public key that `portal-failover liveness keygen` prints' };
  let key: KeyObject;
  try {
    key = t.startsWith('-----BEGIN') ? createPublicKey(t) : createPublicKey({ key: Buffer.from(t, 'base64'), format: 'der', type: 'spki' });
  } catch {
    return { ok: false, error: 'is not a public key: give the PEM block or the base64 line that `portal-failover liveness keygen` prints' };
  }
  if (key.asymmetricKeyType !== 'ed25519') return { ok: false, error: `must be an Ed25519 public key, got ${key.asymmetricKeyType ?? 'an unknown'} key` };
  return { ok: true, key };
}

export interface LivenessExpectation {
  portal: string;
  publicKey: string;
  maxAgeMs: number;
}

/** Why the document is not a fresh token of this portal signed by this key, or undefined when it is. */
export function livenessProblem(body: string, expect: LivenessExpectation, now: number): string | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch {
    return 'liveness token is not JSON';
  }
  if (!doc || typeof doc !== 'object') return 'liveness token is not a JSON object';
  const { portal, issuedAt, signature } = doc as Record<string, unknown>;
  if (typeof portal !== 'string' || typeof issuedAt !== 'string') return 'liveness token lacks portal or issuedAt';
  if (typeof signature !== 'string' || signature === '') return 'liveness token is not signed';
  if (portal !== expect.portal) return `liveness token is for portal ${JSON.stringify(portal.slice(0, 64))}, not ${expect.portal}`;
  const key = parseLivenessPublicKey(expect.publicKey);
  if (!key.ok) return `liveness public key ${key.error}`;
  const sig = Buffer.from(signature, 'base64');
  if (!verify(null, livenessMessage(portal, issuedAt), key.key, sig)) return 'liveness token signature does not verify with the configured key';
  const at = Date.parse(issuedAt);
  if (!Number.isFinite(at)) return `liveness token issuedAt ${JSON.stringify(issuedAt.slice(0, 40))} is not a time`;
  if (at - now > LIVENESS_CLOCK_SKEW_MS) return `liveness token issuedAt ${issuedAt} is in the future (clock skew?)`;
  const age = now - at;
  if (age > expect.maxAgeMs) return `liveness token is ${Math.round(age / 1000)}s old (issued ${issuedAt}), older than maxAge ${Math.round(expect.maxAgeMs / 1000)}s: a stale or cached copy`;
  return undefined;
}
