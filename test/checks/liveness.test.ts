import { spawn, spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  ConfigError,
  generateLivenessKeys,
  livenessPrivateKey,
  livenessProblem,
  parseConfig,
  probe,
  signLiveness,
  type HttpCheckConfig,
} from '@portal-failover/shared';
import { parseCheck, rawConfigWithChecks } from '../support/check-config';
import { waitFor } from '../support/free-port';
import { PortalSite } from '../support/portal-site';

/**
 * The signed liveness token: the CLI signer (keygen, write, write --every), the http check's expect.liveness
 * against a real HTTP server, and the config refusing keys that are not Ed25519.
 */

const ROOT = path.resolve(__dirname, '..', '..');
const CLI = path.join(ROOT, 'cli', 'dist', 'main.js');
const PATH = '/.well-known/portal-liveness';

let dir: string;
let site: PortalSite;
const keys = generateLivenessKeys();
const otherKeys = generateLivenessKeys();
const key = livenessPrivateKey(keys.privateKeyPem);

beforeAll(async () => {
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npx tsc -b\` first (npm test does)`);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-liveness-'));
  site = await PortalSite.start();
});

afterAll(async () => {
  await site?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('portal-failover liveness', () => {
  it('keygen writes a private key only its owner can read, prints the public key, and never overwrites', () => {
    const file = path.join(dir, 'key.pem');
    const r = cli(['liveness', 'keygen', '--out', file]);
    expect(r.code).toBe(0);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const printed = /^\s+(MC[A-Za-z0-9+/=]+)$/m.exec(r.out)?.[1];
    expect(printed).toBeDefined();
    // The printed key is the configured form: the config accepts it, and it verifies what the private key signs.
    const check = parseCheck<HttpCheckConfig>({ type: 'http', url: site.url, interval: '5s', timeout: '1s', expect: { liveness: { publicKey: printed, maxAge: '2m' } } });
    const token = signLiveness(livenessPrivateKey(fs.readFileSync(file, 'utf8')), 'p', new Date());
    expect(livenessProblem(JSON.stringify(token), { portal: 'p', publicKey: check.expect.liveness!.publicKey, maxAgeMs: 120_000 }, Date.now())).toBeUndefined();
    const again = cli(['liveness', 'keygen', '--out', file]);
    expect(again.code).toBe(2);
    expect(again.err).toContain('it exists; keys are never overwritten');
  });

  it('write signs portal|issuedAt into the file; --every keeps it fresh until stopped', async () => {
    const keyFile = path.join(dir, 'signer.pem');
    fs.writeFileSync(keyFile, keys.privateKeyPem, { mode: 0o600 });
    const out = path.join(dir, 'once.json');
    expect(cli(['liveness', 'write', '--key', `file:${keyFile}`, '--portal', 'dvc-hanoi', '--out', out]).code).toBe(0);
    const once = fs.readFileSync(out, 'utf8');
    expect(livenessProblem(once, { portal: 'dvc-hanoi', publicKey: keys.publicKeyBase64, maxAgeMs: 60_000 }, Date.now())).toBeUndefined();

    const loop = path.join(dir, 'loop.json');
    const child = spawn(process.execPath, [CLI, 'liveness', 'write', '--key', `file:${keyFile}`, '--portal', 'dvc-hanoi', '--out', loop, '--every', '1s'], { stdio: 'ignore' });
    try {
      await waitFor(() => fs.existsSync(loop), { timeoutMs: 15_000, what: 'first token written' });
      const first = JSON.parse(fs.readFileSync(loop, 'utf8')).issuedAt as string;
      await waitFor(() => JSON.parse(fs.readFileSync(loop, 'utf8')).issuedAt !== first, { timeoutMs: 10_000, what: 'token rewritten' });
    } finally {
      child.kill('SIGTERM');
    }
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    expect(code).toBe(0);
    // No temporary file is left next to the served one.
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('write refuses a key that is not Ed25519, and a key given as a literal', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const rsaFile = path.join(dir, 'rsa.pem');
    fs.writeFileSync(rsaFile, rsa);
    const r = cli(['liveness', 'write', '--key', `file:${rsaFile}`, '--portal', 'p', '--out', path.join(dir, 'x.json')]);
    expect(r.code).toBe(2);
    expect(r.err).toContain('is a rsa key; the liveness token needs Ed25519');
    const literal = cli(['liveness', 'write', '--key', keys.privateKeyPem, '--portal', 'p', '--out', path.join(dir, 'x.json')]);
    expect(literal.code).toBe(2);
    expect(literal.err).toContain('--key: secrets must be a ${ENV_VAR} reference or a file:/path');
    expect(literal.err).not.toContain('PRIVATE');
  });
});

describe('http check expect.liveness', () => {
  const check = (maxAge = '2m', publicKey = keys.publicKeyBase64) =>
    parseCheck<HttpCheckConfig>({ type: 'http', url: site.url, interval: '5s', timeout: '2s', expect: { bodyIncludes: ['Cổng dịch vụ công'], liveness: { publicKey, maxAge } } });
  const serve = (body: unknown) => site.files.set(PATH, typeof body === 'string' ? body : JSON.stringify(body));
  afterEach(() => site.files.delete(PATH));

  it('is up with a fresh token of this portal signed by the configured key', async () => {
    serve(signLiveness(key, 'p', new Date()));
    expect(await probe(check(), { portal: 'p' })).toMatchObject({ ok: true, status: 200 });
  });

  it.each([
    ['missing', undefined, /no liveness token at \/\.well-known\/portal-liveness \(HTTP 404\)/],
    ['unsigned', { portal: 'p', issuedAt: new Date().toISOString() }, /not signed/],
    ['not JSON (a provider page)', '<html>suspended</html>', /not JSON/],
    ['for another portal', signLiveness(key, 'other-portal', new Date()), /for portal "other-portal", not p/],
    ['signed with another key', signLiveness(livenessPrivateKey(otherKeys.privateKeyPem), 'p', new Date()), /signature does not verify/],
    ['ten minutes old (a cached copy)', signLiveness(key, 'p', new Date(Date.now() - 600_000)), /\d{3}s old \(issued .*\), older than maxAge 120s/],
    ['tampered issuedAt', { ...signLiveness(key, 'p', new Date(Date.now() - 600_000)), issuedAt: new Date().toISOString() }, /signature does not verify/],
  ])('is down when the token is %s', async (_name, body, why) => {
    if (body !== undefined) serve(body);
    const out = await probe(check(), { portal: 'p' });
    expect(out).toMatchObject({ ok: false, reason: 'liveness' });
    expect(out.detail).toMatch(why);
  });

  it('is down when the page itself fails, for the page reason', async () => {
    serve(signLiveness(key, 'p', new Date()));
    const c = check();
    const out = await probe({ ...c, expect: { ...c.expect, bodyIncludes: ['not on the page'] } }, { portal: 'p' });
    expect(out).toMatchObject({ ok: false, reason: 'content' });
  });
});

describe('config', () => {
  function problems(publicKey: string): string[] {
    try {
      parseConfig(rawConfigWithChecks([{ type: 'http', url: 'https://192.0.2.1/', interval: '5s', timeout: '1s', expect: { liveness: { publicKey, maxAge: '2m' } } }]), 'test', { TEST_KEY: 'k' });
      return [];
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      return err.problems.map((p) => `${p.path}: ${p.message}`);
    }
  }
  const at = 'portals[0].sites[0].checks[0].expect.liveness.publicKey';

  it('refuses a liveness key that is not Ed25519, a private key, and garbage, naming the path', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect(problems(rsa)).toEqual([`${at}: must be an Ed25519 public key, got rsa key`]);
    expect(problems(keys.privateKeyPem)).toEqual([`${at}: is a private key; configure the public key that \`portal-failover liveness keygen\` prints`]);
    expect(problems('hello')).toEqual([`${at}: is not a public key: give the PEM block or the base64 line that \`portal-failover liveness keygen\` prints`]);
    expect(problems(keys.publicKeyPem)).toEqual([]);
    expect(problems(keys.publicKeyBase64)).toEqual([]);
  });
});
