import { createHmac, randomBytes } from 'node:crypto';
import * as dnsPacket from 'dns-packet';
import { decodeTsigSecret, signMessage, TSIG_FUDGE, verifyResponse, type TsigKey } from './tsig';
import { canonicalWireName, layout } from './wire';

/**
 * TSIG (RFC 8945) signing and answer verification without a server: the MAC layout is checked against an HMAC
 * built here by hand from the RFC's field list, and every way an answer can fail to check out is shown to fail.
 * test/providers/rfc2136.test.ts shows that BIND 9 accepts our requests and that we accept BIND's answers.
 */

const NOW = 1_790_000_000;
const key = (algorithm: TsigKey['algorithm'] = 'hmac-sha256'): TsigKey => ({ name: 'failover-key', algorithm, secret: randomBytes(32) });

function query(id = 0x1234): Buffer {
  return dnsPacket.encode({ type: 'query', id, flags: 0, questions: [{ name: 'www.portal.example', type: 'A', class: 'IN' }] });
}

/** What a server sends back: the same id, QR set, one answer, signed with the request's MAC prefixed. */
function answerTo(request: Buffer, k: TsigKey, requestMac: Buffer, opts: { now?: number; error?: number } = {}): Buffer {
  const id = request.readUInt16BE(0);
  const unsigned = dnsPacket.encode({
    type: 'response',
    id,
    flags: dnsPacket.AUTHORITATIVE_ANSWER,
    questions: [{ name: 'www.portal.example', type: 'A', class: 'IN' }],
    answers: [{ name: 'www.portal.example', type: 'A', class: 'IN', ttl: 30, data: '198.51.100.20' }],
  });
  return signMessage(unsigned, k, { now: opts.now ?? NOW, requestMac, error: opts.error }).wire;
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

describe('TSIG signing', () => {
  it.each(['hmac-sha256', 'hmac-sha512'] as const)('%s: the MAC covers the message and the TSIG variables, as RFC 8945 §4.3.3 lists them', (alg) => {
    const k = key(alg);
    const msg = query();
    const { wire, mac } = signMessage(msg, k, { now: NOW });
    const time = Buffer.alloc(6);
    time.writeUIntBE(NOW, 0, 6);
    const variables = Buffer.concat([canonicalWireName('failover-key.'), u16(255), Buffer.alloc(4), canonicalWireName(`${alg}.`), time, u16(TSIG_FUDGE), u16(0), u16(0)]);
    const expected = createHmac(alg === 'hmac-sha256' ? 'sha256' : 'sha512', k.secret).update(Buffer.concat([msg, variables])).digest();
    expect(mac).toEqual(expected);

    // The message itself is unchanged apart from ARCOUNT, and the TSIG record follows it.
    expect(wire.subarray(0, 10)).toEqual(msg.subarray(0, 10));
    expect(wire.readUInt16BE(10)).toBe(1);
    const decoded = dnsPacket.decode(wire);
    expect(decoded.additionals).toEqual([expect.objectContaining({ name: 'failover-key', type: 'TSIG', class: 'ANY', ttl: 0 })]);
    const tsig = layout(wire).records[0];
    expect(wire.subarray(tsig.rdataStart, tsig.rdataStart + 13)).toEqual(canonicalWireName(`${alg}.`).subarray(0, 13));
  });
});

describe('TSIG answer verification', () => {
  it('accepts an answer signed with the key over our request MAC', () => {
    const k = key();
    const { mac } = signMessage(query(), k, { now: NOW });
    expect(verifyResponse(answerTo(query(), k, mac), mac, k, NOW + 10)).toEqual({ status: 'verified' });
    const k512 = key('hmac-sha512');
    const r512 = signMessage(query(), k512, { now: NOW });
    expect(verifyResponse(answerTo(query(), k512, r512.mac), r512.mac, k512, NOW)).toEqual({ status: 'verified' });
  });

  it('rejects any flipped bit in the signed part', () => {
    const k = key();
    const { mac } = signMessage(query(), k, { now: NOW });
    const answer = answerTo(query(), k, mac);
    const tsigStart = layout(answer).records.at(-1)?.start ?? 0;
    for (const offset of [2, 7, 20, tsigStart - 1]) {
      const bad = Buffer.from(answer);
      bad[offset] ^= 0x01;
      const verdict = verifyResponse(bad, mac, k, NOW);
      expect(verdict.status).not.toBe('verified');
    }
  });

  it('rejects an answer bound to another request, signed by another key, or out of the time window', () => {
    const k = key();
    const { mac } = signMessage(query(), k, { now: NOW });
    const other = signMessage(query(0x4321), k, { now: NOW }).mac;
    expect(verifyResponse(answerTo(query(), k, other), mac, k, NOW)).toEqual({ status: 'invalid', reason: 'MAC does not verify' });
    const stranger = { ...k, secret: randomBytes(32) };
    expect(verifyResponse(answerTo(query(), stranger, mac), mac, k, NOW)).toEqual({ status: 'invalid', reason: 'MAC does not verify' });
    expect(verifyResponse(answerTo(query(), { ...k, name: 'other-key' }, mac), mac, k, NOW)).toMatchObject({ status: 'invalid', reason: 'answer is signed with key other-key., not failover-key' });
    expect(verifyResponse(answerTo(query(), key('hmac-sha512'), mac), mac, k, NOW)).toMatchObject({ status: 'invalid', reason: 'answer is signed with hmac-sha512., not hmac-sha256' });
    expect(verifyResponse(answerTo(query(), k, mac, { now: NOW - TSIG_FUDGE - 5 }), mac, k, NOW)).toMatchObject({ status: 'invalid', reason: expect.stringMatching(/305s from our clock/) });
  });

  it('reports the server\'s TSIG error, and an answer without TSIG as unsigned', () => {
    const k = key();
    const { mac } = signMessage(query(), k, { now: NOW });
    expect(verifyResponse(answerTo(query(), k, mac, { error: 16 }), mac, k, NOW)).toEqual({ status: 'rejected', error: 'BADSIG' });
    expect(verifyResponse(answerTo(query(), k, mac, { error: 17 }), mac, k, NOW)).toEqual({ status: 'rejected', error: 'BADKEY' });
    const unsigned = dnsPacket.encode({ type: 'response', id: 0x1234, flags: 0, questions: [{ name: 'www.portal.example', type: 'A', class: 'IN' }] });
    expect(verifyResponse(unsigned, mac, k, NOW)).toEqual({ status: 'unsigned' });
  });

  it('refuses a truncated MAC and malformed records instead of throwing', () => {
    const k = key();
    const { mac } = signMessage(query(), k, { now: NOW });
    const answer = answerTo(query(), k, mac);
    expect(verifyResponse(answer.subarray(0, answer.length - 3), mac, k, NOW)).toMatchObject({ status: 'invalid', reason: expect.stringMatching(/^malformed TSIG record/) });
    // Rewrite the MAC size field to 16 and drop the rest of the MAC: a truncated MAC (RFC 8945 §5.2.2.1).
    const tsig = layout(answer).records.at(-1);
    if (!tsig) throw new Error('no TSIG');
    const sizeAt = tsig.rdataStart + canonicalWireName('hmac-sha256.').length + 8;
    const head = Buffer.from(answer.subarray(0, sizeAt));
    const truncated = Buffer.concat([head, u16(16), answer.subarray(sizeAt + 2, sizeAt + 2 + 16), answer.subarray(sizeAt + 2 + 32)]);
    truncated.writeUInt16BE(answer.readUInt16BE(tsig.rdataStart - 2) - 16, tsig.rdataStart - 2);
    expect(verifyResponse(truncated, mac, k, NOW)).toEqual({ status: 'invalid', reason: 'MAC is 16 bytes, expected 32' });
  });
});

describe('decodeTsigSecret', () => {
  it('takes what tsig-keygen prints and nothing else', () => {
    const secret = randomBytes(32);
    expect(decodeTsigSecret(secret.toString('base64'))).toEqual(secret);
    expect(decodeTsigSecret(`  ${secret.toString('base64')}\n`)).toEqual(secret);
    expect(decodeTsigSecret('c2hvcnQ=')).toBeUndefined(); // 5 bytes: too short to be a key
    expect(decodeTsigSecret('not base64!')).toBeUndefined();
    expect(decodeTsigSecret(secret.toString('base64url').replace(/=+$/, '') + '-_')).toBeUndefined();
  });
});
