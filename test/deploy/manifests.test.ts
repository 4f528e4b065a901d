import fs from 'node:fs';
import path from 'node:path';
import { parseConfigText } from '@portal-failover/shared';
import { parse } from 'yaml';
import { readKustomization } from './kustomize';
import { arr, deployPath, isObj, obj, repoRoot, str, walkStrings, type Obj } from './support';

/**
 * docker-compose.yml, deploy/docker-compose.observability.yml and deploy/k8s parse and wire the services as the
 * product needs: images, REDIS_URL and the other variables, probes on /healthz and /readyz, volumes, Redis with AOF
 * and noeviction, secrets referenced and never inlined, a PodDisruptionBudget for the controllers.
 */

const SECRET_NAME = /(KEY|TOKEN|PASSWORD|SECRET|CREDENTIAL)/i;

function yamlFile(file: string): Obj {
  // merge: docker-compose.yml shares the service settings through YAML merge keys (<<: *service).
  return obj(parse(fs.readFileSync(file, 'utf8'), { merge: true }), file);
}

function envOf(service: Obj): Record<string, string> {
  const env = service.environment ?? {};
  if (Array.isArray(env)) {
    return Object.fromEntries(env.map((e) => str(e, 'environment entry').split(/=(.*)/s).slice(0, 2)));
  }
  return Object.fromEntries(Object.entries(obj(env, 'environment')).map(([k, v]) => [k, v === null ? '' : String(v)]));
}

function commandText(v: unknown): string {
  return Array.isArray(v) ? v.map(String).join(' ') : String(v ?? '');
}

describe('docker-compose.yml', () => {
  const compose = yamlFile(path.join(repoRoot, 'docker-compose.yml'));
  const services = obj(compose.services, 'services');
  const app = ['checker-hn', 'checker-hcm', 'controller', 'api'];

  it('has Redis with AOF, noeviction and a data volume', () => {
    const redis = obj(services.redis, 'redis');
    expect(str(redis.image, 'redis.image')).toMatch(/^redis:\d/);
    const cmd = commandText(redis.command);
    expect(cmd).toMatch(/--appendonly yes/);
    expect(cmd).toMatch(/--maxmemory-policy noeviction/);
    expect(arr(redis.volumes, 'redis.volumes')).toContain('redis-data:/data');
  });

  it.each(app)('%s runs its process of the image (entrypoint, not the CLI), with REDIS_URL, the config mounted and secrets from env files', (name) => {
    const s = obj(services[name], name);
    expect(str(s.image, `${name}.image`)).toMatch(/\S/);
    const env = envOf(s);
    // The single Redis unless REDIS_URL is set (empty for the sentinel profile: test/deploy/sentinel.test.ts).
    expect(env.REDIS_URL).toBe('${REDIS_URL-redis://redis:6379}');
    expect(env.FAILOVER_CONFIG).toBe('/app/config/failover.yaml');
    // The demo config unless FAILOVER_CONFIG_DIR (.env) names the folder of your own.
    expect(arr(s.volumes, `${name}.volumes`)).toContain('${FAILOVER_CONFIG_DIR:-./deploy/demo}:/app/config:ro');
    // The image's ENTRYPOINT is the CLI: a `command` would become its arguments, so the process is the entrypoint.
    expect(s.command).toBeUndefined();
    expect(commandText(s.entrypoint)).toMatch(new RegExp(`^node services/${name.replace(/-.*/, '')}/dist/main\\.js$`));
    // No secret in `environment` (it would also override the env file's value); they come from deploy/secrets.
    expect(Object.keys(env).filter((k) => SECRET_NAME.test(k))).toEqual([]);
    // Its secrets, and its role's Redis ACL user (REDIS_USERNAME, REDIS_PASSWORD).
    const role = name.startsWith('checker-') ? `checker-${env.FAILOVER_VANTAGE}` : name;
    const files = arr(s.env_file, `${name}.env_file`).map((f) => str(f, `${name}.env_file`));
    for (const f of files) expect(f).toMatch(/^\.\/deploy\/secrets\/[a-z0-9-]+\.env$/);
    expect(files).toContain(`./deploy/secrets/redis-${role}.env`);
  });

  it('gives each checker its own vantage and the checkers and controllers a metrics listener', () => {
    const vantages = ['checker-hn', 'checker-hcm'].map((n) => envOf(obj(services[n], n)).FAILOVER_VANTAGE);
    expect(new Set(vantages).size).toBe(2);
    for (const n of ['checker-hn', 'checker-hcm', 'controller']) expect(envOf(obj(services[n], n)).METRICS_LISTEN).toBe('0.0.0.0:9464');
  });

  it('runs the API on all interfaces with a readiness health check', () => {
    const api = obj(services.api, 'api');
    expect(envOf(api).API_LISTEN).toBe('0.0.0.0:8080');
    expect(commandText(obj(api.healthcheck, 'api.healthcheck').test)).toContain('/readyz');
  });
});

describe('deploy/docker-compose.observability.yml', () => {
  const root = obj(yamlFile(path.join(repoRoot, 'docker-compose.yml')).services, 'root services');
  const file = deployPath('docker-compose.observability.yml');
  const compose = yamlFile(file);
  const services = obj(compose.services, 'services');

  it('adds Prometheus, Alertmanager and Grafana with pinned images, without clashing with the root file', () => {
    expect(Object.keys(services).sort()).toEqual(['alertmanager', 'grafana', 'prometheus']);
    for (const [name, s] of Object.entries(services)) {
      expect(str(obj(s, name).image, `${name}.image`)).toMatch(/:v?\d+\.\d+\.\d+$/);
      expect(Object.keys(root)).not.toContain(name);
    }
  });

  it('mounts files that exist (paths relative to deploy/, as `include` resolves them)', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const v of arr(obj(s, name).volumes ?? [], `${name}.volumes`)) {
        const [source] = str(v, 'volume').split(':');
        if (!source.startsWith('.')) continue;
        expect(fs.existsSync(path.resolve(path.dirname(file), source)) ? source : `missing: ${source}`).toBe(source);
      }
    }
  });

  it('publishes ports on loopback only and runs Alertmanager without its cluster port', () => {
    for (const [name, s] of Object.entries(services)) for (const p of arr(obj(s, name).ports ?? [], `${name}.ports`)) expect(str(p, 'port')).toMatch(/^127\.0\.0\.1:/);
    expect(arr(obj(services.alertmanager, 'alertmanager').command, 'alertmanager.command')).toContain('--cluster.listen-address=');
  });

  it('gives Alertmanager the API token as the secret file alertmanager.yml reads', () => {
    const am = parse(fs.readFileSync(deployPath('alertmanager', 'alertmanager.yml'), 'utf8')) as unknown;
    const files = walkStrings(am).filter((s) => s.key === 'credentials_file').map((s) => s.value);
    expect(files).toHaveLength(1);
    const secret = path.basename(files[0]);
    expect(arr(obj(services.alertmanager, 'alertmanager').secrets, 'alertmanager.secrets')).toContain(secret);
    expect(files[0]).toBe(`/run/secrets/${secret}`);
    const declared = obj(obj(compose.secrets, 'secrets')[secret], `secrets.${secret}`);
    expect(str(declared.file, 'file')).toMatch(/^\.\/secrets\//);
    // Secret files are never committed.
    expect(fs.readFileSync(deployPath('secrets', '.gitignore'), 'utf8')).toMatch(/^\*$/m);
  });

  it('scrapes the services of docker-compose.yml on the ports they serve metrics on', () => {
    const prom = yamlFile(deployPath('prometheus', 'prometheus.yml'));
    const jobs = arr(prom.scrape_configs, 'scrape_configs').map((j) => obj(j, 'job'));
    const targets = jobs.flatMap((j) => [
      ...arr(j.static_configs ?? [], 'static_configs').flatMap((sc) => arr(obj(sc, 'static_config').targets, 'targets').map((t) => str(t, 'target'))),
      ...arr(j.dns_sd_configs ?? [], 'dns_sd_configs').flatMap((sd) => arr(obj(sd, 'dns_sd').names, 'names').map((n) => `${str(n, 'name')}:${String(obj(sd, 'dns_sd').port)}`)),
    ]);
    for (const name of ['checker-hn', 'checker-hcm', 'controller']) {
      const port = envOf(obj(root[name], name)).METRICS_LISTEN.split(':')[1];
      expect(targets).toContain(`${name}:${port}`);
    }
    expect(targets).toContain(`api:${envOf(obj(root.api, 'api')).API_LISTEN.split(':')[1]}`);
    expect(targets).toContain('alertmanager:9093');
  });
});

describe('deploy/k8s', () => {
  const dir = deployPath('k8s');
  const kustomization = yamlFile(path.join(dir, 'kustomization.yaml'));
  const tree = readKustomization(dir);
  const docs: Obj[] = tree.docs.map((d) => d.doc);
  const byKind = (kind: string) => docs.filter((d) => d.kind === kind);
  const name = (d: Obj) => str(obj(d.metadata, 'metadata').name, 'metadata.name');
  const find = (kind: string, n: string) => {
    const d = byKind(kind).find((x) => name(x) === n);
    if (!d) throw new Error(`no ${kind} ${n} in deploy/k8s`);
    return d;
  };
  const podSpec = (d: Obj) => obj(obj(obj(d.spec, 'spec').template, 'template').spec, 'pod spec');
  const containers = (d: Obj) => arr(podSpec(d).containers, 'containers').map((c) => obj(c, 'container'));
  const env = (c: Obj) => arr(c.env ?? [], 'env').map((e) => obj(e, 'env var'));
  const envValue = (c: Obj, n: string) => env(c).find((e) => e.name === n);
  const workloads = [...byKind('Deployment'), ...byKind('StatefulSet')];
  const appDeployments = byKind('Deployment');

  it('reaches every manifest under deploy/k8s from kustomization.yaml (overlays and monitoring apart), and keeps Secrets out', () => {
    expect(tree.missing).toEqual([]);
    const onDisk = (d: string): string[] =>
      fs.readdirSync(d, { withFileTypes: true }).flatMap((e) => {
        const p = path.join(d, e.name);
        if (e.isDirectory()) return d === dir && ['overlays', 'monitoring'].includes(e.name) ? [] : onDisk(p);
        return /\.ya?ml$/.test(e.name) ? [p] : [];
      });
    expect(onDisk(dir).filter((f) => !tree.files.has(f)).map((f) => path.relative(dir, f))).toEqual([]);
    expect(byKind('Secret')).toEqual([]);
    expect(arr(kustomization.images, 'images').map((i) => obj(i, 'image').name)).toEqual(['portal-failover']);
  });

  it('puts everything in the Namespace it creates; the manifests themselves name none', () => {
    const [ns] = byKind('Namespace');
    expect(byKind('Namespace')).toHaveLength(1);
    expect(tree.namespace).toBe(name(ns));
    for (const d of docs) expect(obj(d.metadata, 'metadata').namespace).toBeUndefined();
  });

  it('generates the config ConfigMap from base/failover.yaml, and every config volume names the generated ConfigMap', () => {
    const generated = byKind('ConfigMap').filter((d) => d.generated === true);
    expect(generated.map(name)).toEqual(['portal-failover-config']);
    // No hand-written copy beside it: kustomize would refuse two objects of one name, and one would go stale.
    expect(byKind('ConfigMap').filter((d) => d.generated !== true)).toEqual([]);
    expect(Object.keys(obj(generated[0].data, 'data'))).toEqual(['failover.yaml']);
    for (const d of workloads) {
      for (const v of arr(podSpec(d).volumes ?? [], 'volumes').map((x) => obj(x, 'volume'))) {
        if (v.configMap !== undefined) expect({ workload: name(d), configMap: obj(v.configMap, 'configMap').name }).toEqual({ workload: name(d), configMap: name(generated[0]) });
      }
    }
  });

  it('has the API (1–2 replicas), two checkers with their own vantages, two controllers, Redis', () => {
    const api = find('Deployment', 'portal-failover-api');
    expect(obj(api.spec, 'spec').replicas).toBeGreaterThanOrEqual(1);
    expect(obj(api.spec, 'spec').replicas).toBeLessThanOrEqual(2);
    expect(obj(find('Deployment', 'portal-failover-controller').spec, 'spec').replicas).toBe(2);
    const checkers = appDeployments.filter((d) => name(d).startsWith('portal-failover-checker-'));
    expect(checkers).toHaveLength(2);
    const vantages = checkers.map((d) => envValue(containers(d)[0], 'FAILOVER_VANTAGE')?.value);
    expect(new Set(vantages).size).toBe(2);
    for (const v of vantages) expect(String(v)).toMatch(/^[a-z0-9][a-z0-9_-]{0,62}$/);
    find('StatefulSet', 'redis');
  });

  it.each(['portal-failover-api', 'portal-failover-checker-hn-1', 'portal-failover-checker-hcm-1', 'portal-failover-controller'])(
    '%s: image, config, REDIS_URL and secrets from Secrets, resources, selector matching its pods',
    (n) => {
      const d = find('Deployment', n);
      const [c] = containers(d);
      expect(c.image).toBe('portal-failover:local');
      expect(commandText(c.command)).toMatch(/^node services\/(api|checker|controller)\/dist\/main\.js$/);
      expect(envValue(c, 'FAILOVER_CONFIG')?.value).toBe('/etc/portal-failover/failover.yaml');
      expect(envValue(c, 'REDIS_URL')?.valueFrom).toEqual({ secretKeyRef: { name: 'portal-failover', key: 'redis-url' } });
      for (const e of env(c)) if (SECRET_NAME.test(str(e.name, 'env name'))) expect({ name: e.name, value: e.value, secret: isObj(obj(e.valueFrom ?? {}, 'valueFrom').secretKeyRef) }).toEqual({ name: e.name, value: undefined, secret: true });
      const res = obj(c.resources, 'resources');
      for (const k of ['requests', 'limits']) {
        expect(obj(res[k], k).cpu).toBeDefined();
        expect(obj(res[k], k).memory).toBeDefined();
      }
      const labels = obj(obj(obj(obj(d.spec, 'spec').template, 'template').metadata, 'metadata').labels, 'labels');
      expect(labels).toMatchObject(obj(obj(obj(d.spec, 'spec').selector, 'selector').matchLabels, 'matchLabels'));
      // Every mount names a volume of the pod, and the config comes from the ConfigMap.
      const volumes = arr(podSpec(d).volumes, 'volumes').map((v) => obj(v, 'volume'));
      for (const m of arr(c.volumeMounts, 'volumeMounts')) expect(volumes.map((v) => v.name)).toContain(obj(m, 'mount').name);
      expect(volumes.find((v) => v.name === 'config')?.configMap).toEqual({ name: 'portal-failover-config' });
      expect(obj(obj(c.securityContext, 'securityContext'), 'sc').readOnlyRootFilesystem).toBe(true);
      expect(podSpec(d).securityContext).toMatchObject({ runAsNonRoot: true });
    },
  );

  it('checkers and controllers serve metrics on METRICS_LISTEN; the API listens on 0.0.0.0:8080 with /healthz and /readyz probes', () => {
    for (const d of appDeployments.filter((x) => !name(x).endsWith('-api'))) {
      const [c] = containers(d);
      expect(envValue(c, 'METRICS_LISTEN')?.value).toBe('0.0.0.0:9464');
      expect(arr(c.ports, 'ports').map((p) => obj(p, 'port').containerPort)).toContain(9464);
      // Probes hit the metrics listener's /healthz and /readyz (shared/src/runtime/service.ts), never /metrics.
      expect(obj(obj(c.livenessProbe, 'livenessProbe').httpGet, 'httpGet')).toMatchObject({ path: '/healthz', port: 'metrics' });
      expect(obj(obj(c.readinessProbe, 'readinessProbe').httpGet, 'httpGet')).toMatchObject({ path: '/readyz', port: 'metrics' });
    }
    const [api] = containers(find('Deployment', 'portal-failover-api'));
    expect(envValue(api, 'API_LISTEN')?.value).toBe('0.0.0.0:8080');
    expect(obj(obj(api.livenessProbe, 'livenessProbe').httpGet, 'httpGet')).toMatchObject({ path: '/healthz', port: 'http' });
    expect(obj(obj(api.readinessProbe, 'readinessProbe').httpGet, 'httpGet')).toMatchObject({ path: '/readyz', port: 'http' });
    expect(arr(api.ports, 'ports')).toEqual([{ name: 'http', containerPort: 8080 }]);
    // The API token file is a mounted Secret.
    const tokens = arr(podSpec(find('Deployment', 'portal-failover-api')).volumes, 'volumes').map((v) => obj(v, 'volume')).find((v) => v.name === 'tokens');
    expect(obj(tokens?.secret, 'tokens.secret').secretName).toBe('portal-failover-api-tokens');
  });

  it('Services select pods that exist; the API Service is `api` on 8080, as alertmanager.yml calls it', () => {
    const podLabels = workloads.map((w) => obj(obj(obj(obj(w.spec, 'spec').template, 'template').metadata, 'metadata').labels, 'labels'));
    for (const s of byKind('Service')) {
      const sel = obj(obj(s.spec, 'spec').selector, 'selector');
      expect(podLabels.some((l) => Object.entries(sel).every(([k, v]) => l[k] === v)) ? name(s) : `selects nothing: ${name(s)}`).toBe(name(s));
    }
    const api = find('Service', 'api');
    expect(arr(obj(api.spec, 'spec').ports, 'ports').map((p) => obj(p, 'port').port)).toEqual([8080]);
  });

  it('runs Redis with AOF, noeviction, the ACL users from their Secret and a persistent volume', () => {
    const redis = find('StatefulSet', 'redis');
    const [c] = containers(redis);
    const cmd = `${commandText(c.command)} ${commandText(c.args)}`;
    expect(cmd).toMatch(/--appendonly yes/);
    expect(cmd).toMatch(/--maxmemory-policy noeviction/);
    // No shared password: each role logs in as its ACL user, the default user may only PING (the probes).
    expect(cmd).not.toMatch(/requirepass/);
    expect(cmd).toMatch(/--aclfile \/etc\/redis\/acl\/users\.acl/);
    expect(arr(c.volumeMounts, 'volumeMounts')).toContainEqual({ name: 'acl', mountPath: '/etc/redis/acl', readOnly: true });
    const acl = arr(podSpec(redis).volumes, 'volumes').map((v) => obj(v, 'volume')).find((v) => v.name === 'acl');
    expect(obj(acl?.secret, 'acl.secret').secretName).toBe('portal-failover-redis-acl');
    for (const [n, role] of [['portal-failover-api', 'api'], ['portal-failover-controller', 'controller'], ['portal-failover-checker-hn-1', 'checker-hn-1'], ['portal-failover-checker-hcm-1', 'checker-hcm-1']]) {
      const [svc] = containers(find('Deployment', n));
      expect({ n, user: envValue(svc, 'REDIS_USERNAME')?.value }).toEqual({ n, user: role });
      expect(envValue(svc, 'REDIS_PASSWORD')?.valueFrom).toEqual({ secretKeyRef: { name: 'portal-failover', key: `redis-${role}-password` } });
    }
    const claims = arr(obj(redis.spec, 'spec').volumeClaimTemplates, 'volumeClaimTemplates').map((v) => obj(v, 'claim'));
    expect(claims.map((v) => obj(v.metadata, 'metadata').name)).toEqual(['data']);
    expect(arr(c.volumeMounts, 'volumeMounts')).toContainEqual({ name: 'data', mountPath: '/data' });
    expect(obj(redis.spec, 'spec').serviceName).toBe('redis');
    find('Service', 'redis');
  });

  it('keeps a controller through voluntary disruptions (PodDisruptionBudget minAvailable 1)', () => {
    // The API and the checkers have their own budgets (pdb.yaml, checked in k8s-extras.test.ts); this is the controllers'.
    const pdbs = byKind('PodDisruptionBudget').filter((p) => obj(p.metadata, 'metadata').name === 'portal-failover-controller');
    expect(pdbs).toHaveLength(1);
    const spec = obj(pdbs[0].spec, 'spec');
    expect(spec.minAvailable).toBe(1);
    const controllerLabels = obj(obj(obj(find('Deployment', 'portal-failover-controller').spec, 'spec').selector, 'selector').matchLabels, 'matchLabels');
    expect(obj(spec.selector, 'selector').matchLabels).toEqual(controllerLabels);
  });

  it('ships a config (base/failover.yaml) that passes the real config validator', () => {
    const cm = find('ConfigMap', 'portal-failover-config');
    const text = str(obj(cm.data, 'data')['failover.yaml'], 'failover.yaml');
    const config = parseConfigText(text, 'deploy/k8s/base/failover.yaml', { PDNS_API_KEY: 'test-only', VANTAGE_HN1_KEY: 'test-only-hn-1-key-0123456789abcdef', VANTAGE_HCM1_KEY: 'test-only-hcm-1-key-0123456789abcdef' });
    expect(config.portals.map((p) => p.id)).toEqual(['dvc-hanoi']);
    expect(config.api.tokenFile).toBe('/etc/portal-failover/tokens/tokens');
    const mounted = arr(containers(find('Deployment', 'portal-failover-api'))[0].volumeMounts, 'mounts').map((m) => obj(m, 'mount'));
    expect(mounted.find((m) => m.name === 'tokens')?.mountPath).toBe('/etc/portal-failover/tokens');
    // No literal secret in the config: only ${ENV} references or file: paths.
    expect(text).toMatch(/apiKey: \$\{PDNS_API_KEY\}/);
  });

  it('documents every Secret and key the manifests reference', () => {
    const doc = fs.readFileSync(path.join(repoRoot, 'docs', 'observability.md'), 'utf8');
    const refs = new Set<string>();
    for (const d of docs) {
      for (const s of walkStrings(d)) if (s.key === 'secretName') refs.add(s.value);
      const text = JSON.stringify(d);
      for (const m of text.matchAll(/"secretKeyRef":\{"name":"([^"]+)","key":"([^"]+)"\}/g)) {
        refs.add(m[1]);
        refs.add(m[2]);
      }
    }
    expect([...refs].filter((r) => !doc.includes(r))).toEqual([]);
  });
});

describe('deploy/k8s vantages and overlays', () => {
  const dir = deployPath('k8s');
  const root = yamlFile(path.join(dir, 'kustomization.yaml'));
  const base = readKustomization(path.join(dir, 'base'));
  const baseConfig = parse(str(obj(base.docs.find((d) => d.doc.kind === 'ConfigMap')?.doc.data, 'base ConfigMap data')['failover.yaml'], 'failover.yaml')) as { vantages: { name: string; key: string }[] };
  const vantages = baseConfig.vantages.map((v) => v.name);
  const name = (d: Obj) => str(obj(d.metadata, 'metadata').name, 'metadata.name');
  const containerOf = (d: Obj) => obj(arr(obj(obj(obj(d.spec, 'spec').template, 'template').spec, 'pod spec').containers, 'containers')[0], 'container');
  const envOfContainer = (c: Obj) => arr(c.env ?? [], 'env').map((e) => obj(e, 'env var'));

  it('has a Component per vantage the config declares, and the one-cluster install includes them all', () => {
    expect(vantages.length).toBeGreaterThanOrEqual(2);
    expect(fs.readdirSync(path.join(dir, 'vantages')).sort()).toEqual([...vantages].sort());
    expect(arr(root.components, 'components').map((c) => str(c, 'component')).sort()).toEqual(vantages.map((v) => `vantages/${v}`).sort());
    for (const v of vantages) expect(yamlFile(path.join(dir, 'vantages', v, 'kustomization.yaml')).kind).toBe('Component');
  });

  it.each(['hn-1', 'hcm-1'])('overlays/%s is the base plus that vantage\'s checkers, wired to the generated config and the vantage key', (v) => {
    const odir = path.join(dir, 'overlays', v);
    const overlay = yamlFile(path.join(odir, 'kustomization.yaml'));
    const tree = readKustomization(odir);
    expect(tree.missing).toEqual([]);
    expect(overlay.resources).toEqual(['../../base']);
    expect(overlay.components).toEqual([`../../vantages/${v}`]);
    // Same namespace and image as the one-cluster install, so both halves of a split install meet.
    expect(tree.namespace).toBe(root.namespace);
    expect(overlay.images).toEqual(root.images);
    const kinds = tree.docs.map((d) => `${String(d.doc.kind)}/${name(d.doc)}`).sort();
    expect(kinds).toEqual(['ConfigMap/portal-failover-config', `Deployment/portal-failover-checker-${v}`, 'Namespace/portal-failover', `NetworkPolicy/portal-failover-checker-${v}`, `PodDisruptionBudget/portal-failover-checker-${v}`].sort());
    const deployment = tree.docs.find((d) => d.doc.kind === 'Deployment')!.doc;
    const c = containerOf(deployment);
    expect(envOfContainer(c).find((e) => e.name === 'FAILOVER_VANTAGE')?.value).toBe(v);
    // The checker gets its own vantage's key, under the variable the config names for it, and no other secret
    // than Redis's.
    const keyVar = /^\$\{(\w+)\}$/.exec(baseConfig.vantages.find((x) => x.name === v)!.key)![1];
    const secrets = envOfContainer(c).filter((e) => e.valueFrom !== undefined).map((e) => [e.name, obj(obj(e.valueFrom, 'valueFrom').secretKeyRef, 'secretKeyRef').key]);
    expect(secrets.sort()).toEqual([['REDIS_URL', 'redis-url'], ['REDIS_PASSWORD', `redis-checker-${v}-password`], [keyVar, `vantage-${v}-key`]].sort());
    const volumes = arr(obj(obj(obj(deployment.spec, 'spec').template, 'template').spec, 'pod spec').volumes, 'volumes').map((x) => obj(x, 'volume'));
    expect(volumes.find((x) => x.name === 'config')?.configMap).toEqual({ name: 'portal-failover-config' });
    // The budget and the policy select exactly this vantage's checker pods.
    const podLabels = obj(obj(obj(obj(deployment.spec, 'spec').template, 'template').metadata, 'metadata').labels, 'labels');
    for (const d of tree.docs.filter((x) => ['PodDisruptionBudget', 'NetworkPolicy'].includes(String(x.doc.kind)))) {
      const sel = obj(d.doc.kind === 'NetworkPolicy' ? obj(d.doc.spec, 'spec').podSelector : obj(d.doc.spec, 'spec').selector, 'selector');
      expect(obj(sel.matchLabels, 'matchLabels')).toEqual({ 'app.kubernetes.io/name': 'portal-failover', 'app.kubernetes.io/component': 'checker', 'portal-failover/vantage': v });
      expect(podLabels).toMatchObject(obj(sel.matchLabels, 'matchLabels'));
    }
  });

  it('has an overlay for every vantage and nothing else under overlays/', () => {
    expect(fs.readdirSync(path.join(dir, 'overlays')).sort()).toEqual([...vantages].sort());
  });
});
