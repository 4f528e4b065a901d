import { generateKeyPairSync } from 'node:crypto';
import { checkpointPrivateKey, checkpointSignatureProblem, parseCheckpoint, parseCheckpointPublicKey, publicKeyBase64, signCheckpoint } from './checkpoint';

const ed = () => generateKeyPairSync('ed25519');
const head = { seq: 42, hash: 'a'.repeat(64), id: '1700000000000-0' };

describe('signed audit checkpoints', () => {
  it('a signed checkpoint verifies with its key and names head hash, id, count and time', () => {
    const { privateKey, publicKey } = ed();
    const cp = signCheckpoint(privateKey, head, new Date('2026-12-02T10:00:00Z'));
    expect(cp).toMatchObject({ v: 1, hash: head.hash, id: head.id, count: 42, at: '2026-12-02T10:00:00.000Z', publicKey: publicKeyBase64(publicKey) });
    expect(checkpointSignatureProblem(cp, publicKey)).toBeUndefined();
    expect(checkpointSignatureProblem(cp)).toBeUndefined();
  });

  it.each([
    ['hash', { hash: 'b'.repeat(64) }],
    ['count', { count: 41 }],
    ['id', { id: '1700000000000-1' }],
    ['at', { at: '2026-12-02T10:00:01.000Z' }],
  ])('an altered %s fails the signature', (_f, change) => {
    const { privateKey } = ed();
    const cp = { ...signCheckpoint(privateKey, head, new Date(0)), ...change };
    expect(checkpointSignatureProblem(cp)).toMatch(/signature does not verify/);
  });

  it('a checkpoint signed by another key fails against the trusted key, even when it carries that key', () => {
    const mine = ed();
    const forger = ed();
    const forged = { ...signCheckpoint(forger.privateKey, head, new Date(0)) };
    expect(checkpointSignatureProblem(forged, mine.publicKey)).toMatch(/different key/);
    expect(checkpointSignatureProblem({ ...forged, publicKey: publicKeyBase64(mine.publicKey) }, mine.publicKey)).toMatch(/does not verify/);
  });

  it('keys: only Ed25519, private where private is needed, and errors never quote the key', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const pem = rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const r = checkpointPrivateKey(pem);
    expect(r).toEqual({ ok: false, error: 'is a rsa key; audit checkpoints need Ed25519' });
    expect(checkpointPrivateKey('not a key')).toMatchObject({ ok: false, error: expect.stringContaining('is not a private key') });
    expect(checkpointPrivateKey(ed().privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()).ok).toBe(true);
    expect(parseCheckpointPublicKey(pem)).toMatchObject({ ok: false, error: expect.stringContaining('is a private key') });
    expect(parseCheckpointPublicKey(publicKeyBase64(ed().publicKey)).ok).toBe(true);
  });

  it('parses one JSON checkpoint or the last of JSON lines, and names what is missing', () => {
    const { privateKey } = ed();
    const a = signCheckpoint(privateKey, head, new Date(0));
    const b = signCheckpoint(privateKey, { ...head, seq: 50 }, new Date(1000));
    expect(parseCheckpoint(JSON.stringify(a))).toEqual({ ok: true, checkpoint: a });
    expect(parseCheckpoint(`${JSON.stringify(a)}\n${JSON.stringify(b)}\n`)).toEqual({ ok: true, checkpoint: b });
    expect(parseCheckpoint('')).toEqual({ ok: false, error: 'is empty' });
    expect(parseCheckpoint('{"hash":1}')).toEqual({ ok: false, error: 'lacks the field hash' });
    expect(parseCheckpoint(JSON.stringify({ ...a, count: 0 }))).toEqual({ ok: false, error: 'field count is not a positive integer' });
    expect(parseCheckpoint('garbage\nmore')).toMatchObject({ ok: false });
  });
});
