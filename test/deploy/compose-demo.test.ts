import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig } from '@portal-failover/shared';
import { hashToken, parseTokenFile } from '@portal-failover/api/auth';
import { parse } from 'yaml';
import { runCli } from '../support/cli';
import { startPowerDns, type PowerDnsServer } from '../support/powerdns-server';
import { arr, obj, repoRoot, str, tempDir, type Obj } from './support';

/**
 * The compose demo as a newcomer runs it: `npm run compose:init`, then `docker compose --profile demo up`. There is
 * no Docker engine here, so the stack is checked on a temp copy of the repository: after compose:init every file any
 * compose file mounts, reads as an env file or declares as a secret exists; every config a service reads passes the
 * real validator with exactly the environment compose gives that service; the demo's sites, checkers and PowerDNS
 * zone fit its config; and the zone one-shot runs against a real PowerDNS.
 */

const APP_IMAGE = 'portal-failover:local';
const SECRET_FILES = ['operator-token', 'alertmanager-token', 'grafana-admin-password', 'pdns-api-key', 'vantage-hn-1-key', 'vantage-hcm-1-key', 'redis-checker-hn-1-password', 'redis-checker-hcm-1-password', 'redis-controller-password', 'redis-api-password', 'redis-replica-password', 'redis-sentinel-password'];

/** Compose interpolation of ${VAR}, ${VAR:-default} and ${VAR-default}, against `env` (no .env here: the defaults). */
function interpolate(text: string, env: Record<string, string> = {}): string {
  return text.replace(/\$\{(\w+)(?:(:?-)([^}]*))?\}/g, (_all, name: string, op: string | undefined, def: string | undefined) => {
    const v = env[name];
    if (op === ':-') return v ? v : (def ?? '');
    if (op === '-') return v !== undefined ? v : (def ?? '');
    return v ?? '';
  });
}

function load(file: string): Obj {
  return obj(parse(fs.readFileSync(file, 'utf8'), { merge: true }), file);
}

/** The root compose file and the files it includes, each with the folder its relative paths start from. */
function composeFiles(root: string): { file: string; doc: Obj }[] {
  const rootFile = path.join(root, 'docker-compose.yml');
  const doc = load(rootFile);
  const included = arr(doc.include ?? [], 'include').map((i) => path.resolve(root, typeof i === 'string' ? i : str(obj(i, 'include').path, 'include.path')));
  return [{ file: rootFile, doc }, ...included.map((f) => ({ file: f, doc: load(f) }))];
}

const servicesOf = (doc: Obj) => obj(doc.services, 'services') as Record<string, Obj>;
const envFiles = (s: Obj): string[] => (s.env_file === undefined ? [] : (Array.isArray(s.env_file) ? s.env_file : [s.env_file]).map((e) => (typeof e === 'string' ? e : str(obj(e, 'env_file').path, 'env_file.path'))));

function parseEnvFile(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (m) out[m[1]] = m[2];
  }
  return out;
}

/** What a service's process sees: its env files, then its `environment` (which wins), interpolated. */
function serviceEnv(root: string, s: Obj): Record<string, string> {
  const env: Record<string, string> = {};
  for (const f of envFiles(s)) Object.assign(env, parseEnvFile(path.resolve(root, interpolate(f))));
  for (const [k, v] of Object.entries(obj(s.environment ?? {}, 'environment'))) env[k] = interpolate(v === null ? '' : String(v));
  return env;
}

/** Host paths a compose file needs: bind-mount sources, env files, secret files. */
function neededPaths(file: string, doc: Obj): { what: string; at: string }[] {
  const base = path.dirname(file);
  const out: { what: string; at: string }[] = [];
  for (const [name, s] of Object.entries(servicesOf(doc))) {
    for (const v of arr(s.volumes ?? [], `${name}.volumes`)) {
      const source = typeof v === 'string' ? interpolate(v).split(':')[0] : obj(v, 'volume').type === 'bind' ? str(obj(v, 'volume').source, 'source') : '';
      if (source.startsWith('./') || source.startsWith('../') || source.startsWith('/')) out.push({ what: `${name} mounts ${source}`, at: path.resolve(base, source) });
    }
    for (const f of envFiles(s)) out.push({ what: `${name} env_file ${f}`, at: path.resolve(base, interpolate(f)) });
  }
  for (const [name, sec] of Object.entries(obj(doc.secrets ?? {}, 'secrets'))) {
    const f = obj(sec, name).file;
    if (typeof f === 'string') out.push({ what: `secret ${name} ${f}`, at: path.resolve(base, f) });
  }
  return out;
}

/** A copy of what the stack reads, without this checkout's own deploy/secrets (the test must not depend on them). */
function copyRepo(): string {
  const root = tempDir('pf-compose-');
  fs.copyFileSync(path.join(repoRoot, 'docker-compose.yml'), path.join(root, 'docker-compose.yml'));
  for (const dir of ['deploy', 'config']) {
    fs.cpSync(path.join(repoRoot, dir), path.join(root, dir), {
      recursive: true,
      filter: (src) => path.dirname(src) !== path.join(repoRoot, 'deploy', 'secrets') || path.basename(src) === '.gitignore',
    });
  }
  return root;
}

function composeInit(root: string) {
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'scripts', 'compose-init.js'), '--root', root], { encoding: 'utf8', cwd: root });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('the compose demo stack', () => {
  let root: string;
  let firstInit: ReturnType<typeof composeInit>;
  const secret = (name: string) => fs.readFileSync(path.join(root, 'deploy', 'secrets', name), 'utf8').trim();

  beforeAll(() => {
    root = copyRepo();
    firstInit = composeInit(root);
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  it('needs compose:init: before it, the env and secret files are missing', () => {
    const pristine = copyRepo();
    try {
      const missing = composeFiles(pristine).flatMap(({ file, doc }) => neededPaths(file, doc)).filter((p) => !fs.existsSync(p.at));
      expect(missing.map((m) => m.what)).toEqual(expect.arrayContaining([expect.stringContaining('services.env'), expect.stringContaining('api-tokens'), expect.stringContaining('grafana-admin-password')]));
    } finally {
      fs.rmSync(pristine, { recursive: true, force: true });
    }
  });

  it('after compose:init every path any compose file mounts, reads or declares exists', () => {
    expect({ status: firstInit.status, stderr: firstInit.stderr }).toEqual({ status: 0, stderr: '' });
    const files = composeFiles(root);
    expect(files.map((f) => path.relative(root, f.file))).toEqual(['docker-compose.yml', path.join('deploy', 'docker-compose.observability.yml')]);
    const missing = files.flatMap(({ file, doc }) => neededPaths(file, doc)).filter((p) => !fs.existsSync(p.at));
    expect(missing.map((m) => m.what)).toEqual([]);
  });

  it('compose:init writes working tokens and keys, prints none of them, and keeps them on a second run', () => {
    const tokens = parseTokenFile(secret('api-tokens'), 'api-tokens');
    expect(tokens.map((t) => [t.name, t.role])).toEqual([['operator', 'operator'], ['alertmanager', 'automation']]);
    expect(tokens[0].sha256).toBe(hashToken(secret('operator-token')));
    expect(tokens[1].sha256).toBe(hashToken(secret('alertmanager-token')));
    for (const f of SECRET_FILES) {
      expect(secret(f).length).toBeGreaterThanOrEqual(24);
      expect(firstInit.stdout).not.toContain(secret(f));
    }
    // Only what a container's own user must read is readable by others.
    const mode = (f: string) => fs.statSync(path.join(root, 'deploy', 'secrets', f)).mode & 0o777;
    for (const f of ['operator-token', 'pdns-api-key', 'services.env', 'pdns.env', 'checker-hn-1.env', 'redis-api-password', 'redis-checker-hn-1.env']) expect({ f, mode: mode(f) }).toEqual({ f, mode: 0o600 });
    // The ACL file holds password hashes only.
    for (const r of ['checker-hn-1', 'checker-hcm-1', 'controller', 'api', 'replica', 'sentinel']) expect(secret('users.acl')).not.toContain(secret(`redis-${r}-password`));
    // Nobody uses the shared checker user: each vantage's checkers have their own.
    expect(secret('users.acl')).toMatch(/^user checker off /m);
    const before = Object.fromEntries(SECRET_FILES.map((f) => [f, secret(f)]));
    const again = composeInit(root);
    expect(again.status).toBe(0);
    expect(again.stdout).toContain('kept every existing secret');
    expect(Object.fromEntries(SECRET_FILES.map((f) => [f, secret(f)]))).toEqual(before);
  });

  it('every portal-failover service\'s config passes `portal-failover validate` with the environment compose gives it', async () => {
    const services = servicesOf(composeFiles(root)[0].doc);
    const app = Object.entries(services).filter(([, s]) => s.image === APP_IMAGE);
    expect(app.map(([n]) => n).sort()).toEqual(['api', 'checker-hcm', 'checker-hn', 'controller']);
    for (const [name, s] of app) {
      const env = serviceEnv(root, s);
      // The container path of the config, back to the host folder mounted there.
      const mount = arr(s.volumes, `${name}.volumes`).map((v) => interpolate(str(v, 'volume')).split(':')).find(([, target]) => env.FAILOVER_CONFIG.startsWith(`${target}/`));
      expect(mount).toBeDefined();
      const hostConfig = path.resolve(root, mount![0], path.relative(mount![1], env.FAILOVER_CONFIG));
      expect(path.relative(root, hostConfig)).toBe(path.join('deploy', 'demo', 'failover.yaml'));
      const childEnv = { PATH: process.env.PATH ?? '', ...env };
      // Each service logs in as its role's Redis ACL user, whose password hash is in the ACL file Redis loads.
      const role = name.startsWith('checker-') ? `checker-${env.FAILOVER_VANTAGE}` : name;
      const loaded = loadConfig(hostConfig, childEnv, { withholdSecrets: 'only the Redis login is looked at here' });
      expect({ name, user: loaded.redis.username }).toEqual({ name, user: role });
      expect(loaded.redis.password?.reveal()).toBe(secret(`redis-${role}-password`));
      const hash = createHash('sha256').update(secret(`redis-${role}-password`)).digest('hex');
      expect(secret('users.acl').split('\n')).toContainEqual(expect.stringMatching(new RegExp(`^user ${role} on #${hash} resetkeys \\S*pf:`)));
      if (name.startsWith('checker-')) {
        // A checker holds only its own vantage's key, so the CLI (which resolves every secret) names the others' as
        // missing and nothing else; the checker itself loads the config the way it does, withholding those.
        const r = await runCli(['validate', hostConfig], childEnv);
        const problems = r.err.split('\n').filter((l) => /^\s+\S/.test(l)).map((l) => l.trim());
        expect(problems.length).toBeGreaterThan(0);
        for (const p of problems) expect(p).toMatch(/^(vantages\[\d\]\.key|portals\[0\]\.traffic\[0\]\.apiKey): environment variable \w+ is not set$/);
        const config = loadConfig(hostConfig, childEnv, { withholdSecrets: 'a checker holds only its vantage key' });
        const mine = config.vantages.find((v) => v.name === env.FAILOVER_VANTAGE);
        expect(mine?.key?.reveal()).toBe(secret(`vantage-${env.FAILOVER_VANTAGE}-key`));
      } else {
        const r = await runCli(['validate', hostConfig], childEnv);
        expect({ name, code: r.code, err: r.err }).toEqual({ name, code: 0, err: '' });
        expect(r.out).toContain('OK (1 portal(s), 2 site(s))');
      }
    }
  });

  it('the demo profile serves the config: sites by service name, two vantages, PowerDNS with the zone the step switches', () => {
    const services = servicesOf(composeFiles(root)[0].doc);
    const demo = Object.entries(services).filter(([, s]) => arr(s.profiles ?? [], 'profiles').includes('demo')).map(([n]) => n);
    expect(demo.sort()).toEqual(['pdns-zone', 'site-primary', 'site-standby']);
    const text = fs.readFileSync(path.join(root, 'deploy', 'demo', 'failover.yaml'), 'utf8');
    const config = obj(parse(text), 'config');
    const portal = obj(arr(config.portals, 'portals')[0], 'portal');
    for (const site of arr(portal.sites, 'sites').map((x) => obj(x, 'site'))) {
      for (const check of arr(site.checks, 'checks').map((c) => obj(c, 'check'))) {
        const host = new URL(str(check.url, 'url')).hostname;
        expect(demo).toContain(host);
        // The page the site serves passes the check's body expectations.
        const html = arr(services[host].volumes, 'volumes').map((v) => str(v, 'volume').split(':')).find(([, target]) => target === '/usr/share/nginx/html');
        const page = fs.readFileSync(path.resolve(root, html![0], 'index.html'), 'utf8');
        const expect_ = obj(check.expect ?? {}, 'expect');
        for (const s of arr(expect_.bodyIncludes ?? [], 'bodyIncludes')) expect(page).toContain(str(s, 'include'));
        for (const s of arr(expect_.bodyExcludes ?? [], 'bodyExcludes')) expect(page).not.toContain(str(s, 'exclude'));
      }
    }
    // Two checkers, one per declared vantage.
    const vantages = arr(config.vantages, 'vantages').map((v) => str(obj(v, 'vantage').name, 'name'));
    const checkerVantages = ['checker-hn', 'checker-hcm'].map((n) => serviceEnv(root, services[n]).FAILOVER_VANTAGE);
    expect(checkerVantages.sort()).toEqual([...vantages].sort());
    expect(obj(services.controller.deploy, 'deploy').replicas).toBe(2);
    // The zone one-shot creates what the powerdns step switches, on the stack's pdns, with the key pdns has.
    const step = obj(arr(portal.traffic, 'traffic')[0], 'step');
    expect(step.kind).toBe('powerdns');
    expect(new URL(str(step.apiUrl, 'apiUrl')).hostname).toBe('pdns');
    const zoneEnv = serviceEnv(root, services['pdns-zone']);
    const primary = obj(arr(portal.sites, 'sites')[0], 'site');
    expect(zoneEnv).toMatchObject({ PDNS_API_URL: step.apiUrl, DEMO_ZONE: step.zone, DEMO_RECORD: step.record, DEMO_ADDRESS: obj(primary.routing, 'routing').address });
    // pdns takes its key from the file mounted into its include-dir; the controllers and the one-shot use the same.
    const conf = arr(services.pdns.volumes, 'pdns.volumes').map((v) => str(v, 'volume').split(':')).find(([, target]) => target.startsWith('/etc/powerdns/pdns.d/'));
    const settings = Object.fromEntries(fs.readFileSync(path.resolve(root, conf![0]), 'utf8').split('\n').filter((l) => /^[a-z-]+=/.test(l)).map((l) => l.split(/=(.*)/s).slice(0, 2)));
    expect(settings).toMatchObject({ api: 'yes', webserver: 'yes', 'webserver-address': '0.0.0.0', 'api-key': secret('pdns-api-key') });
    expect(serviceEnv(root, services.controller).PDNS_API_KEY).toBe(secret('pdns-api-key'));
    expect(zoneEnv.PDNS_API_KEY).toBe(secret('pdns-api-key'));
    expect(services.pdns.environment).toBeUndefined();
    // The API reads the token file compose:init wrote, where the config says.
    expect(arr(services.api.secrets, 'api.secrets')).toEqual(['portal_failover_api_tokens']);
    expect(obj(config.api, 'api').tokenFile).toBe('/run/secrets/portal_failover_api_tokens');
  });
});

describe('deploy/demo/pdns-zone.js against a real PowerDNS', () => {
  let pdns: PowerDnsServer;
  beforeAll(async () => {
    pdns = await startPowerDns();
  });
  afterAll(async () => {
    await pdns?.stop();
  });

  const runZone = (key: string) =>
    spawnSync(process.execPath, [path.join(repoRoot, 'deploy', 'demo', 'pdns-zone.js')], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, PDNS_API_URL: pdns.apiUrl, PDNS_API_KEY: key, DEMO_ZONE: 'portal.example.', DEMO_RECORD: 'www.portal.example.', DEMO_ADDRESS: '192.0.2.10', PDNS_WAIT_MS: '5000' },
    });
  const api = (p: string, init: RequestInit = {}) => fetch(`${pdns.apiUrl}/api/v1/servers/localhost${p}`, { ...init, headers: { 'X-API-Key': pdns.apiKey, 'Content-Type': 'application/json' } });
  const wwwA = async () => {
    const zone = (await (await api('/zones/portal.example.')).json()) as { rrsets: { name: string; type: string; records: { content: string }[] }[] };
    return zone.rrsets.find((r) => r.name === 'www.portal.example.' && r.type === 'A')?.records.map((r) => r.content);
  };

  it('refuses a wrong key, creates the zone once, and leaves an existing zone (after a switch) alone', async () => {
    const wrong = runZone('not-the-key');
    expect({ status: wrong.status, stderr: wrong.stderr }).toEqual({ status: 1, stderr: expect.stringContaining('401') });

    const first = runZone(pdns.apiKey);
    expect({ status: first.status, stdout: first.stdout, stderr: first.stderr }).toEqual({ status: 0, stdout: expect.stringContaining('created portal.example.'), stderr: '' });
    expect(await wwwA()).toEqual(['192.0.2.10']);

    // What a failover does to the record; a restarted stack must not undo it.
    const patch = await api('/zones/portal.example.', { method: 'PATCH', body: JSON.stringify({ rrsets: [{ name: 'www.portal.example.', type: 'A', ttl: 30, changetype: 'REPLACE', records: [{ content: '198.51.100.20', disabled: false }] }] }) });
    expect(patch.status).toBe(204);
    const second = runZone(pdns.apiKey);
    expect({ status: second.status, stdout: second.stdout }).toEqual({ status: 0, stdout: expect.stringContaining('exists, left as it is') });
    expect(await wwwA()).toEqual(['198.51.100.20']);
  });
});
