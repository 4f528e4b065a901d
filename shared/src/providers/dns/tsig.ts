import { createHmac, timingSafeEqual } from 'node:crypto';
import { canonicalWireName, CLASS_ANY, layout, MalformedMessageError, rcodeName, readName, TYPE_TSIG } from './wire';

/**
 * TSIG (RFC 8945) signing of a request and verification of the answer, with HMAC-SHA256 / HMAC-SHA512.
 *
 * No maintained npm package does this, and it is small: the MAC covers the message as sent (before the TSIG
 * record is appended) followed by the "TSIG variables"; an answer's MAC additionally starts with the request's
 * MAC, which binds the answer to our question. Truncated MACs (RFC 8945 §5.2.2.1) are refused: we never ask for
 * them, so one showing up means something other than our server answered.
 */

export type TsigAlgorithm = 'hmac-sha256' | 'hmac-sha512';

export interface TsigKey {
  /** Key name as configured on the server (tsig-keygen's `key "<name>"`). */
  name: string;
  algorithm: TsigAlgorithm;
  secret: Buffer;
}

/** Seconds of clock difference allowed between us and the server; 300 is what BIND and nsupdate use. */
export const TSIG_FUDGE = 300;

const DIGEST: Record<TsigAlgorithm, { hash: 'sha256' | 'sha512'; bytes: number }> = {
  'hmac-sha256': { hash: 'sha256', bytes: 32 },
  'hmac-sha512': { hash: 'sha512', bytes: 64 },
};

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

function u48(seconds: number): Buffer {
  const b = Buffer.alloc(6);
  b.writeUIntBE(seconds, 0, 6);
  return b;
}

interface TsigFields {
  timeSigned: number;
  fudge: number;
  error: number;
  other: Buffer;
}

/** The TSIG variables of RFC 8945 §4.3.3, in the order the MAC covers them. */
function variables(key: TsigKey, f: TsigFields): Buffer {
  return Buffer.concat([
    canonicalWireName(key.name),
    u16(CLASS_ANY),
    Buffer.alloc(4), // TTL 0
    canonicalWireName(`${key.algorithm}.`),
    u48(f.timeSigned),
    u16(f.fudge),
    u16(f.error),
    u16(f.other.length),
    f.other,
  ]);
}

function hmac(key: TsigKey, parts: Buffer[]): Buffer {
  const h = createHmac(DIGEST[key.algorithm].hash, key.secret);
  for (const p of parts) h.update(p);
  return h.digest();
}

export interface SignOptions {
  /** Seconds since the epoch. */
  now: number;
  /** Set when signing an answer: the MAC of the request it answers. */
  requestMac?: Buffer;
  error?: number;
  other?: Buffer;
}

/**
 * Appends a TSIG record to an unsigned message and returns the signed message and its MAC (needed to check the
 * answer). The message must not already carry a TSIG record.
 */
export function signMessage(message: Buffer, key: TsigKey, opts: SignOptions): { wire: Buffer; mac: Buffer } {
  const fields: TsigFields = { timeSigned: Math.floor(opts.now), fudge: TSIG_FUDGE, error: opts.error ?? 0, other: opts.other ?? Buffer.alloc(0) };
  const prefix = opts.requestMac ? [u16(opts.requestMac.length), opts.requestMac] : [];
  const mac = hmac(key, [...prefix, message, variables(key, fields)]);
  const rdata = Buffer.concat([
    canonicalWireName(`${key.algorithm}.`),
    u48(fields.timeSigned),
    u16(fields.fudge),
    u16(mac.length),
    mac,
    message.subarray(0, 2), // original id
    u16(fields.error),
    u16(fields.other.length),
    fields.other,
  ]);
  const record = Buffer.concat([canonicalWireName(key.name), u16(TYPE_TSIG), u16(CLASS_ANY), Buffer.alloc(4), u16(rdata.length), rdata]);
  const wire = Buffer.concat([message, record]);
  wire.writeUInt16BE(message.readUInt16BE(10) + 1, 10);
  return { wire, mac };
}

/** What the answer's TSIG record says about it. Only `verified` may be trusted. */
export type TsigVerdict =
  | { status: 'verified' }
  /** The answer has no TSIG record at all. */
  | { status: 'unsigned' }
  /** The server could not verify our request (BADSIG, BADKEY, BADTIME, ...); such answers carry no usable MAC. */
  | { status: 'rejected'; error: string }
  /** A TSIG record that does not check out: wrong MAC, other key, stale time, malformed. */
  | { status: 'invalid'; reason: string };

/** Checks the TSIG record of an answer to a request we signed with `key` and whose MAC was `requestMac`. */
export function verifyResponse(response: Buffer, requestMac: Buffer, key: TsigKey, now: number): TsigVerdict {
  try {
    return verify(response, requestMac, key, now);
  } catch (err) {
    if (err instanceof MalformedMessageError) return { status: 'invalid', reason: `malformed TSIG record: ${err.message}` };
    throw err;
  }
}

function verify(response: Buffer, requestMac: Buffer, key: TsigKey, now: number): TsigVerdict {
  const msg = layout(response);
  const tsigIndex = msg.records.findIndex((r) => r.type === TYPE_TSIG);
  if (tsigIndex === -1) return { status: 'unsigned' };
  const tsig = msg.records[tsigIndex];
  // RFC 8945 §5.2: the TSIG record must be the last additional record, and there is only one.
  if (tsigIndex !== msg.records.length - 1 || msg.counts[3] === 0) return { status: 'invalid', reason: 'TSIG record is not the last record' };
  if (tsig.cls !== CLASS_ANY || tsig.ttl !== 0) return { status: 'invalid', reason: 'TSIG record has the wrong class or TTL' };

  const alg = readName(response, tsig.rdataStart);
  let pos = alg.end;
  const fixed = (bytes: number) => {
    if (pos + bytes > tsig.end) throw new MalformedMessageError('TSIG record data ends early');
    const at = pos;
    pos += bytes;
    return at;
  };
  const timeSigned = response.readUIntBE(fixed(6), 6);
  const fudge = response.readUInt16BE(fixed(2));
  const macSize = response.readUInt16BE(fixed(2));
  const mac = response.subarray(fixed(macSize), pos);
  const originalId = response.readUInt16BE(fixed(2));
  const error = response.readUInt16BE(fixed(2));
  const otherLen = response.readUInt16BE(fixed(2));
  const other = response.subarray(fixed(otherLen), pos);
  if (pos !== tsig.end) return { status: 'invalid', reason: 'TSIG record data has trailing bytes' };

  if (tsig.name !== canonicalWireNameText(key.name)) return { status: 'invalid', reason: `answer is signed with key ${tsig.name}, not ${key.name}` };
  if (alg.name !== `${key.algorithm}.`) return { status: 'invalid', reason: `answer is signed with ${alg.name}, not ${key.algorithm}` };
  if (error !== 0) return { status: 'rejected', error: rcodeName(error) };

  const expected = DIGEST[key.algorithm].bytes;
  if (macSize !== expected) return { status: 'invalid', reason: `MAC is ${macSize} bytes, expected ${expected}` };

  // The MAC covers the answer as it was before the TSIG record was added: ARCOUNT one lower, the original id.
  const unsigned = Buffer.from(response.subarray(0, tsig.start));
  unsigned.writeUInt16BE(originalId, 0);
  unsigned.writeUInt16BE(msg.counts[3] - 1, 10);
  const want = hmac(key, [u16(requestMac.length), requestMac, unsigned, variables(key, { timeSigned, fudge, error, other })]);
  if (!timingSafeEqual(want, mac)) return { status: 'invalid', reason: 'MAC does not verify' };
  // Checked after the MAC, so the time we compare is one the key holder really signed.
  if (Math.abs(Math.floor(now) - timeSigned) > fudge) {
    return { status: 'invalid', reason: `signed at ${timeSigned}, ${Math.floor(now) - timeSigned}s from our clock (fudge ${fudge}s)` };
  }
  return { status: 'verified' };
}

function canonicalWireNameText(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith('.') ? lower : `${lower}.`;
}

/** tsig-keygen prints standard base64; anything else, or a key too short to be one, is a configuration mistake. */
export function decodeTsigSecret(text: string): Buffer | undefined {
  const compact = text.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(compact) || compact.length % 4 !== 0) return undefined;
  const bytes = Buffer.from(compact, 'base64');
  return bytes.length >= 16 ? bytes : undefined;
}
