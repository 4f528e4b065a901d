import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { canonicalJson, type ChainHead } from './chain';

/**
 * Signed checkpoints of the audit chain's head. The leader signs `{hash, id, count, at}` with an Ed25519 key and
 * hands it to witnesses outside Redis. Whoever can edit Redis can recompute every hash of the chain, but cannot
 * change what a witness already holds nor sign a new checkpoint: so a rewrite of the whole chain shows as a
 * checkpoint's entry no longer in the chain with that hash.
 */

/** Signed bytes start with this, so an audit checkpoint signature can never pass for another kind of signature. */
const DOMAIN = 'portal-failover audit checkpoint v1\n';

export interface AuditCheckpoint {
  v: 1;
  /** The head entry's hash when the checkpoint was taken. */
  hash: string;
  /** The head entry's Redis stream id. */
  id: string;
  /** The head's position in the chain: entries ever written, trimmed ones included (the head's seq). */
  count: number;
  /** ISO 8601 UTC time of signing. */
  at: string;
  /** base64 SPKI DER of the public key that verifies `signature` (informative: verify with a key you trust). */
  publicKey: string;
  /** base64 Ed25519 signature over DOMAIN + canonical JSON of {at, count, hash, id}. */
  signature: string;
}

function signedBytes(c: Pick<AuditCheckpoint, 'at' | 'count' | 'hash' | 'id'>): Buffer {
  return Buffer.from(DOMAIN + canonicalJson({ at: c.at, count: c.count, hash: c.hash, id: c.id }), 'utf8');
}

/** Reads a private key PEM and insists on Ed25519. The reason never quotes the key. */
export function checkpointPrivateKey(pem: string): { ok: true; key: KeyObject } | { ok: false; error: string } {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch {
    return { ok: false, error: 'is not a private key in PEM form (make one with `portal-failover liveness keygen`)' };
  }
  if (key.asymmetricKeyType !== 'ed25519') return { ok: false, error: `is a ${key.asymmetricKeyType ?? 'symmetric'} key; audit checkpoints need Ed25519` };
  return { ok: true, key };
}

export function publicKeyBase64(key: KeyObject): string {
  const pub = key.type === 'public' ? key : createPublicKey(key);
  return pub.export({ type: 'spki', format: 'der' }).toString('base64');
}

export function signCheckpoint(key: KeyObject, head: ChainHead, at: Date): AuditCheckpoint {
  const body = { at: at.toISOString(), count: head.seq, hash: head.hash, id: head.id };
  return { v: 1, ...body, publicKey: publicKeyBase64(key), signature: sign(null, signedBytes(body), key).toString('base64') };
}

/** Parses a public key given as a PEM block or the base64 of its SPKI DER (what `liveness keygen` prints). */
export function parseCheckpointPublicKey(text: string): { ok: true; key: KeyObject } | { ok: false; error: string } {
  const t = text.trim();
  if (/PRIVATE KEY/.test(t)) return { ok: false, error: 'is a private key; give the public key' };
  let key: KeyObject;
  try {
    key = t.startsWith('-----BEGIN') ? createPublicKey(t) : createPublicKey({ key: Buffer.from(t, 'base64'), format: 'der', type: 'spki' });
  } catch {
    return { ok: false, error: 'is not a public key: give a PEM block or the base64 of its SPKI DER' };
  }
  if (key.asymmetricKeyType !== 'ed25519') return { ok: false, error: `must be an Ed25519 public key, got ${key.asymmetricKeyType ?? 'an unknown'} key` };
  return { ok: true, key };
}

/**
 * Parses a witness's text: one checkpoint as JSON, or JSON lines (a file witness appends one per line), of
 * which the newest (last) is taken. Names what is wrong otherwise.
 */
export function parseCheckpoint(text: string): { ok: true; checkpoint: AuditCheckpoint } | { ok: false; error: string } {
  const trimmed = text.trim();
  if (!trimmed) return { ok: false, error: 'is empty' };
  let doc: unknown;
  try {
    doc = JSON.parse(trimmed);
  } catch {
    const lines = trimmed.split('\n').filter((l) => l.trim());
    try {
      doc = JSON.parse(lines[lines.length - 1]);
    } catch {
      return { ok: false, error: 'is neither a JSON checkpoint nor JSON lines ending in one' };
    }
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) return { ok: false, error: 'is not a JSON object' };
  const c = doc as Record<string, unknown>;
  for (const f of ['hash', 'id', 'at', 'publicKey', 'signature'] as const) {
    if (typeof c[f] !== 'string' || c[f] === '') return { ok: false, error: `lacks the field ${f}` };
  }
  if (!/^[0-9a-f]{64}$/.test(c.hash as string)) return { ok: false, error: 'field hash is not a SHA-256 hex digest' };
  if (typeof c.count !== 'number' || !Number.isInteger(c.count) || c.count < 1) return { ok: false, error: 'field count is not a positive integer' };
  return { ok: true, checkpoint: { v: 1, hash: c.hash as string, id: c.id as string, count: c.count, at: c.at as string, publicKey: c.publicKey as string, signature: c.signature as string } };
}

/**
 * Checks the signature with `trusted` (a key the verifier holds), or else with the key the checkpoint carries,
 * which only proves the checkpoint was not altered since signing. Returns why it fails, or undefined.
 */
export function checkpointSignatureProblem(c: AuditCheckpoint, trusted?: KeyObject): string | undefined {
  let key = trusted;
  if (!key) {
    const carried = parseCheckpointPublicKey(c.publicKey);
    if (!carried.ok) return `the checkpoint's publicKey ${carried.error}`;
    key = carried.key;
  } else if (publicKeyBase64(key) !== c.publicKey.trim()) {
    return 'the checkpoint was signed by a different key than the one given';
  }
  const sig = Buffer.from(c.signature, 'base64');
  return verify(null, signedBytes(c), key, sig) ? undefined : 'the checkpoint signature does not verify: the checkpoint was altered or forged';
}
