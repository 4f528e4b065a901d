import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, parseConfig } from './load';

/** audit.signingKey / checkpointEvery / witnesses: what is refused, with its path and reason, and never the key. */
const ed = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const env = { PDNS_API_KEY: 'k', AUDIT_KEY: ed, RSA_KEY: rsa, BAD_KEY: 'hunter2-not-a-key' };

const portal = {
  id: 'p',
  name: 'P',
  sites: [
    { name: 'primary', provider: 'a', routing: { address: '192.0.2.10' }, checks: [{ type: 'tcp', host: '192.0.2.10', port: 443, interval: '5s', timeout: '1s' }] },
    { name: 'standby', provider: 'b', routing: { address: '198.51.100.20' }, checks: [{ type: 'tcp', host: '198.51.100.20', port: 443, interval: '5s', timeout: '1s' }] },
  ],
  traffic: [{ kind: 'powerdns', apiUrl: 'http://127.0.0.1:8081', apiKey: '${PDNS_API_KEY}', zone: 'portal.example.', record: 'www.portal.example.', type: 'A' }],
};

function problems(audit: Record<string, unknown>): string[] {
  try {
    parseConfig({ portals: [portal], audit }, 'test.yaml', env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => `${p.path}: ${p.message}`);
    throw err;
  }
  return [];
}

it('accepts an Ed25519 key with witnesses and parses each witness; defaults checkpointEvery to 1h', () => {
  const c = parseConfig({ portals: [portal], audit: { signingKey: '${AUDIT_KEY}', witnesses: ['https://witness.example/cp?token=x', 'file:/var/lib/pf/cp.jsonl'] } }, 't.yaml', env);
  expect(c.audit.checkpointEvery).toBe(3_600_000);
  expect(c.audit.witnesses).toEqual([{ kind: 'url', url: 'https://witness.example/cp?token=x' }, { kind: 'file', path: '/var/lib/pf/cp.jsonl' }]);
  expect(c.audit.signingKey?.reveal()).toBe(ed);
  expect(JSON.stringify(c.audit)).not.toContain('PRIVATE KEY');
  expect(parseConfig({ portals: [portal] }, 't.yaml', env).audit).toMatchObject({ witnesses: [] });
});

it('reads the key from a file: reference too', () => {
  const f = join(mkdtempSync(join(tmpdir(), 'audit-key-')), 'key.pem');
  writeFileSync(f, ed);
  expect(problems({ signingKey: `file:${f}`, witnesses: ['file:/tmp/cp.jsonl'] })).toEqual([]);
});

it.each([
  ['a key that is not Ed25519', { signingKey: '${RSA_KEY}', witnesses: ['file:/tmp/x'] }, ['audit.signingKey: env:RSA_KEY is a rsa key; audit checkpoints need Ed25519']],
  ['a key that is no key', { signingKey: '${BAD_KEY}', witnesses: ['file:/tmp/x'] }, [expect.stringMatching(/^audit\.signingKey: env:BAD_KEY is not a private key in PEM form/)]],
  ['a literal key', { signingKey: ed, witnesses: ['file:/tmp/x'] }, [expect.stringMatching(/^audit\.signingKey: secrets must be a \$\{ENV_VAR\} reference/)]],
  ['a witness neither URL nor file:', { signingKey: '${AUDIT_KEY}', witnesses: ['ftp://host/x'] }, ['audit.witnesses[0]: must be an http(s) URL or file:/path']],
  ['a relative file: witness', { signingKey: '${AUDIT_KEY}', witnesses: ['file:cp.jsonl'] }, [expect.stringMatching(/^audit\.witnesses\[0\]: file: needs an absolute path/)]],
  ['checkpointEvery under 10s', { signingKey: '${AUDIT_KEY}', witnesses: ['file:/tmp/x'], checkpointEvery: '5s' }, ['audit.checkpointEvery: must be at least 10000ms, got 5s']],
  ['a signingKey without witnesses', { signingKey: '${AUDIT_KEY}' }, [expect.stringMatching(/^audit\.witnesses: must name at least one witness when signingKey is set/)]],
  ['witnesses without a signingKey', { witnesses: ['file:/tmp/x'] }, ['audit.signingKey: is required when witnesses are set: checkpoints are signed with it']],
])('refuses %s with its path and reason', (_what, audit, want) => {
  const got = problems(audit);
  expect(got).toEqual(want);
  expect(got.join('\n')).not.toMatch(/hunter2|PRIVATE KEY|token=/);
});

it('a witness URL with a token is never echoed in the error', () => {
  const got = problems({ signingKey: '${AUDIT_KEY}', witnesses: ['gopher://witness.example/?token=s3cr3t'] });
  expect(got).toHaveLength(1);
  expect(got[0]).not.toContain('s3cr3t');
});
