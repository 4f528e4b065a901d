import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseConfig, parseConfigText } from '@portal-failover/shared';
import { parse, parseAllDocuments } from 'yaml';
import { requireExecutable, spawnDaemon, freePort, waitFor, logTail, type Daemon } from '../support/free-port';
import { pingRedis, startRedis, type RedisServer } from '../support/redis-server';
import { arr, deployPath, obj, repoRoot, str, type Obj } from './support';
import { readKustomization } from './kustomize';
import { askSentinel } from '../support/sentinel-cluster';

/**
 * The Sentinel deployments: docker-compose.yml's `sentinel` profile (1 primary, 1 replica, 3 Sentinels) and the
 * deploy/k8s-sentinel overlay. The wiring is checked on the parsed files, the documented config through the real
 * validator, and each shipped sentinel.conf by the real `redis-server --sentinel` monitoring a real primary.
 */

const yamlFile = (file: string): Obj => obj(parse(fs.readFileSync(file, 'utf8'), { merge: true }), file);
const commandText = (v: unknown): string => (Array.isArray(v) ? v.map(String).join(' ') : String(v ?? ''));

/** Compose variable interpolation (${VAR}, ${VAR-default}, ${VAR:-default}) of one parsed value. */
function interpolateString(text: string, env: Record<string, string>): string {
  return text.replace(/\$\{(\w+)(:?-)?([^}]*)\}/g, (_m, name: string, op: string | undefined, def: string) => {
    const v = env[name];
    if (op === '-') return v === undefined ? def : v;
    if (op === ':-') return v === undefined || v === '' ? def : v;
    return v ?? '';
  });
}

/** Compose interpolates the parsed values (never the YAML text), so an empty result stays an empty string. */
function interpolate(v: unknown, env: Record<string, string>): unknown {
  if (typeof v === 'string') return interpolateString(v, env);
  if (Array.isArray(v)) return v.map((x) => interpolate(x, env));
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, interpolate(x, env)]));
  return v;
}

/** The config/failover.yaml the compose services mount, with a different redis block. */
function exampleConfigWith(redis: Obj): Obj {
  const raw = obj(parse(fs.readFileSync(path.join(repoRoot, 'config', 'failover.yaml'), 'utf8'), { merge: true }), 'config/failover.yaml');
  return { ...raw, redis: { ...redis, prefix: obj(raw.redis, 'redis').prefix } };
}

/** Starts `redis-server --sentinel` with `conf`, after pointing it at the test's primary and a free port. */
async function startSentinel(conf: string, master: { host: string; port: number }, primary: RedisServer): Promise<{ port: number; daemon: Daemon; dir: string }> {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-sentinel-conf-'));
  const file = path.join(dir, 'sentinel.conf');
  const text = conf
    .replace(/^port 26379$/m, `port ${port}\nbind 127.0.0.1\ndir ${dir}`)
    .replace(new RegExp(`^(sentinel monitor \\S+) ${master.host.replace(/\./g, '\\.')} ${master.port} `, 'm'), `$1 localhost ${primary.port} `);
  fs.writeFileSync(file, text);
  const binary = requireExecutable('redis-server', 'apt-get install -y redis-server (Sentinel is redis-server --sentinel)');
  const daemon = await spawnDaemon(binary, [file, '--sentinel'], path.join(dir, 'sentinel.log'));
  try {
    await waitFor(() => pingRedis(port), { what: `sentinel on ${port}`, timeoutMs: 15_000, intervalMs: 25, signal: daemon.exitSignal });
  } catch (err) {
    throw new Error(`${(err as Error).message}\nconfig:\n${text}\nlog:\n${logTail(path.join(dir, 'sentinel.log'))}`);
  }
  return { port, daemon, dir };
}


let primary: RedisServer;
beforeAll(async () => {
  primary = await startRedis();
});
afterAll(async () => {
  await primary?.stop();
});

describe('docker-compose.yml, profile sentinel', () => {
  const file = path.join(repoRoot, 'docker-compose.yml');
  const text = fs.readFileSync(file, 'utf8');
  const compose = yamlFile(file);
  const services = obj(compose.services, 'services');
  const sentinels = ['sentinel-1', 'sentinel-2', 'sentinel-3'];
  const confPath = deployPath('sentinel', 'sentinel.conf');
  const conf = fs.readFileSync(confPath, 'utf8');
  /** The services after compose's interpolation with `env`. */
  const servicesWith = (env: Record<string, string>) => obj(obj(interpolate(compose, env), 'compose').services, 'services');

  it('adds a replica of redis and three Sentinels, only under the profile', () => {
    // The demo profile's services are checked in compose-demo.test.ts.
    const profiled = Object.entries(services).filter(([, s]) => obj(s, 'service').profiles !== undefined && !arr(obj(s, 'service').profiles, 'profiles').includes('demo'));
    expect(profiled.map(([n, s]) => [n, obj(s, n).profiles])).toEqual(['redis-replica', ...sentinels].map((n) => [n, ['sentinel']]));
    const replica = commandText(obj(services['redis-replica'], 'redis-replica').command);
    for (const flag of ['--replicaof redis 6379', '--appendonly yes', '--maxmemory-policy noeviction', '--min-replicas-to-write 1']) expect(replica).toContain(flag);
  });

  it('the primary refuses unreplicated writes only when the profile asks (REDIS_MIN_REPLICAS_TO_WRITE=1)', () => {
    const cmd = (env: Record<string, string>) => commandText(obj(servicesWith(env).redis, 'redis').command);
    expect(cmd({})).toContain('--min-replicas-to-write 0');
    expect(cmd({ REDIS_MIN_REPLICAS_TO_WRITE: '1' })).toContain('--min-replicas-to-write 1');
  });

  it('each Sentinel has its own writable copy of the shipped sentinel.conf', () => {
    const volumes = Object.keys(obj(compose.volumes, 'volumes'));
    const own = sentinels.map((n) => {
      const v = arr(obj(services[n], n).volumes, `${n}.volumes`).map((x) => str(x, 'volume'));
      expect(v).toContain('./deploy/sentinel/sentinel.conf:/etc/sentinel/sentinel.conf:ro');
      const data = v.find((x) => x.endsWith(':/data'))!;
      expect(volumes).toContain(data.split(':')[0]);
      expect(commandText(obj(services[n], n).command)).toContain('cp -n /etc/sentinel/sentinel.conf /data/sentinel.conf');
      return data;
    });
    expect(new Set(own).size).toBe(3);
    expect(fs.existsSync(confPath)).toBe(true);
    expect(conf).toMatch(/^sentinel monitor pf-master redis 6379 2$/m);
  });

  it('REDIS_URL= turns the URL off, and the documented redis block passes the real validator', () => {
    for (const n of ['checker-hn', 'checker-hcm', 'controller', 'api']) {
      expect(obj(obj(servicesWith({ REDIS_URL: '' })[n], n).environment, 'environment').REDIS_URL).toBe('');
      expect(obj(obj(servicesWith({})[n], n).environment, 'environment').REDIS_URL).toBe('redis://redis:6379');
    }
    const documented = /^#\s+redis: (\{.*\})$/m.exec(text)?.[1];
    expect(documented).toBeDefined();
    const redis = obj(parse(documented!), 'documented redis block');
    expect(redis).toEqual({ sentinels: sentinels.map((n) => `${n}:26379`), name: 'pf-master' });
    const config = parseConfig(exampleConfigWith(redis), 'compose sentinel profile', { REDIS_URL: '', PDNS_API_KEY: 'test-only' });
    expect(config.redis.sentinels).toHaveLength(3);
    // Leaving REDIS_URL set is refused with the reason, not silently ignored.
    expect(() => parseConfig(exampleConfigWith(redis), 'compose', { REDIS_URL: 'redis://redis:6379' })).toThrow(/REDIS_URL \(environment\): is not used when redis\.sentinels is set/);
  });

  it('the shipped sentinel.conf runs in the real redis-server --sentinel and monitors the primary', async () => {
    const s = await startSentinel(conf, { host: 'redis', port: 6379 }, primary);
    try {
      const addr = (await waitFor(() => askSentinel(s.port, 'SENTINEL', 'get-master-addr-by-name', 'pf-master'), { what: 'the master address', timeoutMs: 10_000 })) as string[];
      expect(addr[1]).toBe(String(primary.port));
      const master = (await askSentinel(s.port, 'SENTINEL', 'master', 'pf-master')) as string[];
      expect(master[master.indexOf('quorum') + 1]).toBe('2');
    } finally {
      await s.daemon.stop('SIGTERM');
      fs.rmSync(s.dir, { recursive: true, force: true });
    }
  });
});

describe('deploy/k8s-sentinel', () => {
  const dir = deployPath('k8s-sentinel');
  const kustomization = yamlFile(path.join(dir, 'kustomization.yaml'));
  const docsOf = (f: string): Obj[] => parseAllDocuments(fs.readFileSync(path.join(dir, f), 'utf8')).map((d, i) => obj(d.toJS(), `${f}#${i}`));
  const name = (d: Obj) => str(obj(d.metadata, 'metadata').name, 'metadata.name');
  const sentinelDocs = docsOf('sentinel.yaml');
  const byKind = (kind: string) => sentinelDocs.filter((d) => d.kind === kind);
  const baseDir = deployPath('k8s');
  const baseDocs: Obj[] = readKustomization(baseDir).docs.map((d) => d.doc);
  const sentinelLabels = { 'app.kubernetes.io/name': 'portal-failover', 'app.kubernetes.io/component': 'redis-sentinel' };

  it('is deploy/k8s plus the Sentinels, with patches that exist', () => {
    expect(kustomization.resources).toEqual(['../k8s', 'sentinel.yaml']);
    for (const p of arr(kustomization.patches, 'patches')) expect(fs.existsSync(path.join(dir, str(obj(p, 'patch').path, 'path')))).toBe(true);
  });

  it('runs three Sentinels on separate nodes, a headless Service and a PodDisruptionBudget of 2', () => {
    const [sts] = byKind('StatefulSet');
    const spec = obj(sts.spec, 'spec');
    expect(spec.replicas).toBe(3);
    expect(obj(spec.selector, 'selector').matchLabels).toEqual(sentinelLabels);
    const pod = obj(obj(spec.template, 'template').spec, 'pod');
    expect(JSON.stringify(pod.affinity)).toContain('kubernetes.io/hostname');
    const [c] = arr(pod.containers, 'containers').map((x) => obj(x, 'container'));
    expect(commandText(c.args)).toContain('exec redis-server /data/sentinel.conf --sentinel');
    expect(arr(pod.volumes, 'volumes')).toContainEqual({ name: 'data', emptyDir: {} });
    const [svc] = byKind('Service');
    expect(obj(svc.spec, 'spec')).toMatchObject({ clusterIP: 'None', selector: sentinelLabels });
    const [pdb] = byKind('PodDisruptionBudget');
    expect(obj(pdb.spec, 'spec')).toEqual({ minAvailable: 2, selector: { matchLabels: sentinelLabels } });
  });

  it('runs Redis as a primary and a replica that follow the Sentinels, refusing unreplicated writes', () => {
    const [patch] = docsOf('redis-replicas.yaml');
    expect(name(patch)).toBe('redis');
    expect(obj(patch.spec, 'spec').replicas).toBe(2);
    const args = commandText(arr(obj(obj(obj(patch.spec, 'spec').template, 't').spec, 's').containers, 'c').map((x) => obj(x, 'c'))[0].args);
    for (const flag of ['sentinel get-master-addr-by-name pf-master', '--replicaof $MASTER 6379', '--appendonly yes', '--maxmemory-policy noeviction', '--min-replicas-to-write 1', '--aclfile /etc/redis/acl/users.acl', '--masteruser replica', '--masterauth "$REDIS_REPLICA_PASSWORD"']) {
      expect(args).toContain(flag);
    }
    // Replication logs in as the `replica` ACL user; there is no shared password any more.
    expect(args).not.toContain('requirepass');
    const [c] = arr(obj(obj(obj(patch.spec, 'spec').template, 't').spec, 's').containers, 'c').map((x) => obj(x, 'c'));
    expect(c.env).toEqual([{ name: 'REDIS_REPLICA_PASSWORD', valueFrom: { secretKeyRef: { name: 'portal-failover', key: 'redis-replica-password' } } }]);
    // The Sentinels log in as the `sentinel` user.
    const sentinel = docsOf('sentinel.yaml').find((d) => d.kind === 'StatefulSet')!;
    const [sc] = arr(obj(obj(obj(sentinel.spec, 'spec').template, 't').spec, 's').containers, 'c').map((x) => obj(x, 'c'));
    expect(commandText(sc.args)).toContain("sentinel auth-user pf-master sentinel");
    expect(sc.env).toEqual([{ name: 'REDIS_SENTINEL_PASSWORD', valueFrom: { secretKeyRef: { name: 'portal-failover', key: 'redis-sentinel-password' } } }]);
  });

  it('takes REDIS_URL away from every service Deployment of deploy/k8s, which keep their role\'s Redis user', () => {
    const patches = docsOf('services-env.yaml');
    const deployments = baseDocs.filter((d) => d.kind === 'Deployment').map(name).sort();
    expect(patches.map(name).sort()).toEqual(deployments);
    for (const p of patches) {
      const [c] = arr(obj(obj(obj(p.spec, 'spec').template, 't').spec, 's').containers, 'c').map((x) => obj(x, 'c'));
      const base = baseDocs.find((d) => d.kind === 'Deployment' && name(d) === name(p))!;
      const [baseC] = arr(obj(obj(obj(base.spec, 'spec').template, 't').spec, 's').containers, 'c').map((x) => obj(x, 'c'));
      expect(c.name).toBe(baseC.name);
      expect(c.env).toEqual([{ name: 'REDIS_URL', $patch: 'delete' }]);
      const baseEnv = arr(baseC.env, 'env').map((e) => obj(e, 'env'));
      expect(baseEnv.find((e) => e.name === 'REDIS_USERNAME')?.value).toMatch(/^(api|controller|checker-[a-z0-9-]+)$/);
      expect(baseEnv.find((e) => e.name === 'REDIS_PASSWORD')?.valueFrom).toEqual({ secretKeyRef: { name: 'portal-failover', key: `redis-${String(baseEnv.find((e) => e.name === 'REDIS_USERNAME')?.value)}-password` } });
    }
  });

  it('its failover.yaml is deploy/k8s\'s with the Sentinels as Redis, and passes the real validator', () => {
    const text = str(obj(docsOf('failover-config.yaml')[0].data, 'data')['failover.yaml'], 'failover.yaml');
    const base = str(obj(baseDocs.find((d) => d.kind === 'ConfigMap' && name(d) === 'portal-failover-config')!.data, 'data')['failover.yaml'], 'failover.yaml');
    // base/failover.yaml opens with a comment about itself, which the patch has no reason to copy.
    const withoutRedis = (t: string) => t.replace(/^(#.*\n)+/, '').replace(/^redis:\n(?: {2}.*\n)+/m, '');
    expect(withoutRedis(text)).toBe(withoutRedis(base));
    const env = { PDNS_API_KEY: 'test-only', REDIS_PASSWORD: 'test-only', VANTAGE_HN1_KEY: 'test-only-hn-1-key-0123456789abcdef', VANTAGE_HCM1_KEY: 'test-only-hcm-1-key-0123456789abcdef' };
    const config = parseConfigText(text, 'deploy/k8s-sentinel/failover-config.yaml', env);
    expect(config.redis).toMatchObject({ name: 'pf-master', sentinels: [0, 1, 2].map((i) => `redis-sentinel-${i}.redis-sentinel:26379`) });
    // The Sentinel set name the config asks for is the one the Sentinels monitor.
    const conf = str(obj(byKind('ConfigMap')[0].data, 'data')['sentinel.conf'], 'sentinel.conf');
    expect(conf).toMatch(/^sentinel monitor pf-master redis-0\.redis 6379 2$/m);
  });

  it('the Sentinels\' sentinel.conf runs in the real redis-server --sentinel and monitors the primary', async () => {
    const conf = str(obj(byKind('ConfigMap')[0].data, 'data')['sentinel.conf'], 'sentinel.conf');
    // What each pod appends at start (its announced name); the password line is left out: the test primary has none.
    const s = await startSentinel(`${conf}sentinel announce-ip redis-sentinel-0.redis-sentinel\n`, { host: 'redis-0.redis', port: 6379 }, primary);
    try {
      const addr = (await waitFor(() => askSentinel(s.port, 'SENTINEL', 'get-master-addr-by-name', 'pf-master'), { what: 'the master address', timeoutMs: 10_000 })) as string[];
      expect(addr[1]).toBe(String(primary.port));
    } finally {
      await s.daemon.stop('SIGTERM');
      fs.rmSync(s.dir, { recursive: true, force: true });
    }
  });
});
