import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { readKustomization } from './kustomize';
import { deployPath, repoRoot } from './support';

/**
 * The Kubernetes pieces beside the workloads: monitoring generated from deploy/prometheus and deploy/grafana (and kept
 * equal to them), disruption budgets that protect without blocking a drain, and network policies that match the
 * ports the pods really use.
 */
type Doc = { kind: string; metadata: { name: string; labels?: Record<string, string> }; spec?: Record<string, unknown>; data?: Record<string, string> };

function docs(file: string): Doc[] {
  return parseAllDocuments(fs.readFileSync(file, 'utf8')).map((d) => d.toJSON() as Doc).filter(Boolean);
}
// The one-cluster install as kustomize assembles it (base, its own files, the vantage Components).
const base = readKustomization(deployPath('k8s')).docs.map((d) => d.doc as unknown as Doc);
const monitoring = fs.readdirSync(deployPath('k8s', 'monitoring')).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').flatMap((f) => docs(deployPath('k8s', 'monitoring', f)));

function matches(selector: Record<string, unknown>, labels: Record<string, string>): boolean {
  const ml = (selector.matchLabels ?? {}) as Record<string, string>;
  const me = (selector.matchExpressions ?? []) as { key: string; operator: string; values: string[] }[];
  return Object.entries(ml).every(([k, v]) => labels[k] === v) && me.every((e) => e.operator === 'In' && e.values.includes(labels[e.key]));
}
const workloads = base.filter((d) => d.kind === 'Deployment' || d.kind === 'StatefulSet');
const podLabels = (w: Doc) => ((w.spec!.template as { metadata: { labels: Record<string, string> } }).metadata.labels);

describe('deploy/k8s/monitoring', () => {
  it('is what scripts/gen-k8s-monitoring.js makes of deploy/prometheus and deploy/grafana now', () => {
    const r = spawnSync(process.execPath, [path.join(repoRoot, 'scripts', 'gen-k8s-monitoring.js'), '--check'], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('carries the same alert rules and the same dashboard', () => {
    const rule = monitoring.find((d) => d.kind === 'PrometheusRule')!;
    const rules = parse(fs.readFileSync(deployPath('prometheus', 'rules', 'failover.rules.yml'), 'utf8')) as { groups: unknown };
    expect(rule.spec!.groups).toEqual(rules.groups);
    const dash = monitoring.find((d) => d.kind === 'ConfigMap')!;
    expect(dash.metadata.labels?.grafana_dashboard).toBe('1');
    expect(JSON.parse(dash.data!['portal-failover.json'])).toEqual(JSON.parse(fs.readFileSync(deployPath('grafana', 'dashboards', 'portal-failover.json'), 'utf8')));
  });

  it('scrapes the API, checkers and controllers under the job names the rules and the dashboard use', () => {
    const prom = parse(fs.readFileSync(deployPath('prometheus', 'prometheus.yml'), 'utf8')) as { scrape_configs: { job_name: string }[] };
    const composeJobs = prom.scrape_configs.map((s) => s.job_name).filter((j) => j.startsWith('portal-failover-'));
    const jobs: string[] = [];
    for (const m of monitoring.filter((d) => d.kind === 'ServiceMonitor' || d.kind === 'PodMonitor')) {
      const eps = (m.spec!.endpoints ?? m.spec!.podMetricsEndpoints) as { port: string; relabelings: { targetLabel: string; replacement: string }[] }[];
      for (const ep of eps) jobs.push(ep.relabelings.find((r) => r.targetLabel === 'job')!.replacement);
      // Each monitor selects pods or a Service that exist and expose the named port.
      const selector = m.spec!.selector as Record<string, unknown>;
      const selected = m.kind === 'PodMonitor' ? workloads.filter((w) => matches(selector, podLabels(w))) : base.filter((d) => d.kind === 'Service' && matches(selector, d.metadata.labels ?? {}));
      expect({ monitor: m.metadata.name, selects: selected.length > 0 }).toEqual({ monitor: m.metadata.name, selects: true });
    }
    expect(jobs.sort()).toEqual(composeJobs.sort());
  });

  it('lists every file in its kustomization', () => {
    const k = parse(fs.readFileSync(deployPath('k8s', 'monitoring', 'kustomization.yaml'), 'utf8')) as { resources: string[] };
    expect(k.resources.sort()).toEqual(fs.readdirSync(deployPath('k8s', 'monitoring')).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort());
  });
});

describe('deploy/k8s disruption budgets and network policies', () => {
  it('every Deployment has a PodDisruptionBudget that leaves room to drain a node', () => {
    const pdbs = base.filter((d) => d.kind === 'PodDisruptionBudget');
    for (const w of workloads.filter((x) => x.kind === 'Deployment')) {
      const mine = pdbs.filter((p) => matches(p.spec!.selector as Record<string, unknown>, podLabels(w)));
      expect({ workload: w.metadata.name, pdbs: mine.length }).toEqual({ workload: w.metadata.name, pdbs: 1 });
      const replicas = w.spec!.replicas as number;
      const minAvailable = mine[0].spec!.minAvailable as number;
      // minAvailable equal to the replica count would make every drain wait forever.
      expect({ workload: w.metadata.name, roomToDrain: minAvailable < replicas }).toEqual({ workload: w.metadata.name, roomToDrain: true });
    }
  });

  it('lets only portal-failover pods reach Redis, and opens exactly the ports the pods serve', () => {
    const policies = base.filter((d) => d.kind === 'NetworkPolicy');
    const redis = workloads.find((w) => podLabels(w)['app.kubernetes.io/component'] === 'redis')!;
    const onRedis = policies.filter((p) => matches(p.spec!.podSelector as Record<string, unknown>, podLabels(redis)));
    expect(onRedis).toHaveLength(1);
    const ingress = onRedis[0].spec!.ingress as { from: { podSelector: Record<string, unknown> }[] }[];
    expect(ingress.flatMap((i) => i.from).map((f) => f.podSelector)).toEqual([{ matchLabels: { 'app.kubernetes.io/name': 'portal-failover' } }]);
    for (const w of workloads) {
      const containerPorts = ((w.spec!.template as { spec: { containers: { ports?: { containerPort: number }[] }[] } }).spec.containers.flatMap((c) => c.ports ?? [])).map((p) => p.containerPort).sort();
      const covering = policies.filter((p) => matches(p.spec!.podSelector as Record<string, unknown>, podLabels(w)));
      expect({ workload: w.metadata.name, policies: covering.length }).toEqual({ workload: w.metadata.name, policies: 1 });
      const open = (covering[0].spec!.ingress as { ports: { port: number }[] }[]).flatMap((i) => i.ports.map((p) => p.port)).sort();
      expect({ workload: w.metadata.name, open }).toEqual({ workload: w.metadata.name, open: containerPorts });
    }
  });
  // That the kustomization reaches every manifest is checked in manifests.test.ts.
});
