import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..');
const CLI = path.join(ROOT, 'cli', 'dist', 'main.js');

function validate(yaml: string, env: NodeJS.ProcessEnv = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-validate-'));
  const file = path.join(dir, 'failover.yaml');
  fs.writeFileSync(file, yaml);
  const { REDIS_URL: _r, PDNS_API_KEY: _k, ...base } = process.env;
  const r = spawnSync(process.execPath, [CLI, 'validate', file], { env: { ...base, ...env }, encoding: 'utf8' });
  fs.rmSync(dir, { recursive: true, force: true });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const good = `
portals:
  - id: dvc
    name: Portal
    sites:
      - name: primary
        provider: a
        routing: { address: 192.0.2.10 }
        checks: [ { type: http, url: "https://192.0.2.10/", interval: 5s, timeout: 2s } ]
      - name: standby
        provider: b
        routing: { address: 198.51.100.20 }
        checks: [ { type: tcp, host: 198.51.100.20, port: 443, interval: 5s, timeout: 1s } ]
    traffic:
      - { kind: powerdns, apiUrl: "http://127.0.0.1:8081", apiKey: "\${PDNS_API_KEY}", zone: portal.example., record: www.portal.example., type: A }
`;

beforeAll(() => {
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npx tsc -b\` first (npm test does)`);
});

describe('portal-failover validate', () => {
  it('exits 0 on a good file', () => {
    const r = validate(good, { PDNS_API_KEY: 'k' });
    expect(r).toMatchObject({ code: 0 });
    expect(r.out).toMatch(/OK \(1 portal\(s\), 2 site\(s\)\)/);
  });

  it('refuses risk windows without a zone, larger than the TTL, or already over, naming each', () => {
    const withWindows = (windows: string) => `${good}    riskWindows:\n${windows}`;
    const noZone = validate(withWindows('      - { name: no-zone, start: "2099-07-04T00:00:00", duration: 6h, leadTime: 2h, lowerTtlTo: 5s }\n'), { PDNS_API_KEY: 'k' });
    expect(noZone.code).toBe(2);
    expect(noZone.err).toContain('portals[0].riskWindows[0].start: "2099-07-04T00:00:00" has no zone');
    const tooLong = validate(withWindows('      - { name: too-long, start: "2099-07-04T00:00:00+07:00", duration: 6h, leadTime: 2h, lowerTtlTo: 1h }\n'), { PDNS_API_KEY: 'k' });
    expect(tooLong.code).toBe(2);
    expect(tooLong.err).toContain('portals[0].riskWindows[0].lowerTtlTo: 3600s is larger than the 30s TTL of traffic step 1 (powerdns www.portal.example.)');
    const past = validate(withWindows('      - { name: billing-cutoff, start: "2020-07-04T00:00:00+07:00", duration: 6h, leadTime: 2h, lowerTtlTo: 5s }\n'), { PDNS_API_KEY: 'k' });
    expect(past.code).toBe(2);
    expect(past.err).toContain('portals[0].riskWindows[0].start: the window "billing-cutoff" is in the past: it ended at 2020-07-04T06:00:00+07:00; remove it');
    expect(validate(withWindows('      - { name: billing-cutoff, start: "2099-07-04T00:00:00+07:00", duration: 6h, leadTime: 2h, lowerTtlTo: 5s }\n'), { PDNS_API_KEY: 'k' }).code).toBe(0);
  });

  it('is installed as the portal-failover command (what `npx portal-failover` runs)', () => {
    const bin = path.join(ROOT, 'node_modules', '.bin', 'portal-failover');
    const r = spawnSync(bin, ['validate', path.join(ROOT, 'config', 'failover.yaml')], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/OK \(1 portal\(s\), 2 site\(s\)\)/);
  });

  it('validates the shipped example config', () => {
    const r = spawnSync(process.execPath, [CLI, 'validate', path.join(ROOT, 'config', 'failover.yaml')], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it.each([
    ['wrong type', good.replace('port: 443', 'port: "https"'), 'portals[0].sites[1].checks[0].port: must be a number, got string'],
    ['missing field', good.replace('    name: Portal\n', ''), 'portals[0].name: is required'],
    ['timeout >= interval', good.replace('interval: 5s, timeout: 2s', 'interval: 5s, timeout: 5s'), 'portals[0].sites[0].checks[0].timeout: must be shorter than interval'],
    ['unknown provider kind', good.replace('kind: powerdns', 'kind: knotdns'), 'portals[0].traffic[0].kind: unknown provider kind "knotdns"'],
    ['bad duration', good.replace('interval: 5s, timeout: 1s', 'interval: 5 seconds, timeout: 1s'), 'portals[0].sites[1].checks[0].interval: "5 seconds" is not a duration'],
    ['missing secret env', good, 'portals[0].traffic[0].apiKey: environment variable PDNS_API_KEY is not set'],
    ['not YAML', 'portals: [\n  - id: x\n', 'line '],
  ])('%s: non-zero exit, the path and the reason, no stack trace', (_name, yaml, want) => {
    const r = validate(yaml, _name === 'missing secret env' ? {} : { PDNS_API_KEY: 'k' });
    expect(r.code).toBe(2);
    expect(r.err).toContain(want);
    expect(r.err).not.toMatch(/\n\s+at .+:\d+:\d+/);
  });

  it('lists every problem of a file at once', () => {
    const bad = good.replace('port: 443', 'port: "x"').replace('kind: powerdns', 'kind: nope').replace('interval: 5s, timeout: 2s', 'interval: 5s, timeout: 9s');
    const r = validate(bad, { PDNS_API_KEY: 'k' });
    expect(r.code).toBe(2);
    expect(r.err).toContain('port');
    expect(r.err).toContain('kind');
    expect(r.err).toContain('timeout');
  });

  it('never prints a secret value', () => {
    const r = validate(good.replace('"${PDNS_API_KEY}"', '"literal-secret-123"'), {});
    expect(r.code).toBe(2);
    expect(r.err).not.toContain('literal-secret-123');
    expect(r.err).toContain('secrets must be a ${ENV_VAR} reference');
  });
});
