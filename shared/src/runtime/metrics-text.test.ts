import { Counter, Gauge, Registry } from 'prom-client';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { CHECKER_FAMILIES, checkerFamiliesText, createMetrics, metricsText, sendMetrics, type Metrics } from './metrics';

/** Families (by their TYPE line) in an exposition text, with how often each appears. */
function families(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^# TYPE (\S+) /gm)) out.set(m[1], (out.get(m[1]) ?? 0) + 1);
  return out;
}

/**
 * What prom-client renders for the same metrics: the registry's families as they are, and each compact family
 * (compact-family.ts) replayed into a prom-client Counter or Gauge of the same name and labels.
 */
async function promClientText(m: Metrics): Promise<string> {
  const ref = new Registry();
  for (const f of m.families) {
    const { values } = await f.get();
    const opts = { name: f.name, help: f.help, labelNames: f.labelNames, registers: [ref] };
    if (f.type === 'counter') {
      const c = new Counter(opts);
      for (const v of values) c.inc(v.labels, v.value);
    } else {
      const g = new Gauge(opts);
      for (const v of values) g.set(v.labels, v.value);
    }
  }
  return Registry.merge([m.registry, ref]).metrics();
}

describe('metrics of an all-in-one whose checker runs in a child process', () => {
  it('serves every family once: the checker families from the child, the rest from this process', async () => {
    const parent = createMetrics();
    const child = createMetrics();
    const names = new Set([...parent.registry.getMetricsAsArray().map((m) => m.name), ...parent.families.map((f) => f.name)]);
    for (const f of CHECKER_FAMILIES) expect(names).toContain(f);
    parent.controllerLeader.set(1);
    parent.checkUp.set({ portal: 'p', site: 's', check: 'c', vantage: 'v' }, 0); // never set where the checker is elsewhere
    child.checkUp.set({ portal: 'p', site: 's', check: 'c', vantage: 'v' }, 1);
    child.checkLag.observe({ vantage: 'v' }, 0.02);
    child.controllerLeader.set(0);
    parent.children.push(() => checkerFamiliesText(child));
    const text = await metricsText(parent);
    const seen = families(text);
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    expect([...seen.keys()].sort()).toEqual([...names].sort());
    expect(text).toContain('failover_check_up{portal="p",site="s",check="c",vantage="v"} 1');
    expect(text).toContain('failover_check_lag_seconds_count{vantage="v"} 1');
    expect(text).toMatch(/^failover_controller_leader 1$/m);
    // A child that does not answer: its families are missing, nothing else is.
    parent.children[0] = () => Promise.reject(new Error('gone'));
    const without = families(await metricsText(parent));
    expect([...without.keys()].sort()).toEqual([...names].filter((n) => !CHECKER_FAMILIES.has(n)).sort());
  });

  it('renders every family exactly as prom-client does, whatever the label values and numbers', async () => {
    // Without the process figures: they change between two renders.
    const m = createMetrics(undefined, { defaultMetrics: false });
    m.checkUp.set({ portal: 'a"b', site: 'back\\slash', check: 'new\nline', vantage: 'v' }, 1);
    m.siteHealthy.set({ portal: 'p', site: 's' }, -1);
    m.lastSwitch.set({ portal: 'nan' }, NaN);
    m.lastSwitch.set({ portal: 'inf' }, Infinity);
    m.lastSwitch.set({ portal: 'minus-inf' }, -Infinity);
    m.lastSwitch.set({ portal: 'fraction' }, 0.125);
    m.switchovers.inc({ portal: 'p', from: 'a', to: 'b', trigger: 'auto', result: 'success' }, 3);
    m.checkLag.observe({ vantage: 'v' }, 0.2);
    m.propagationLagging.inc({ portal: 'p', server: '192.0.2.53:53' }, 0);
    m.controllerLeader.set(1);
    expect(await metricsText(m)).toBe(await promClientText(m));
  });

  it('streams a large exposition over HTTP as it renders it, byte for byte the text metricsText returns', async () => {
    const m = createMetrics(undefined, { defaultMetrics: false });
    // 50,000 series: more than two pieces of SERIES_PER_TURN.
    for (let p = 0; p < 10_000; p++) for (const phase of ['healthy', 'degraded', 'failing_over', 'failed_over', 'unknown']) m.portalPhase.set({ portal: `p${p}`, phase }, phase === 'healthy' ? 1 : 0);
    const server = http.createServer((_req, res) => void sendMetrics(m, res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;
      const res = await fetch(url);
      expect(res.headers.get('content-type')).toBe(m.registry.contentType);
      expect(res.headers.get('transfer-encoding')).toBe('chunked');
      const body = await res.text();
      expect(body).toBe(await metricsText(m));
      expect(body.match(/^failover_portal_phase\{/gm)).toHaveLength(50_000);
      // A scraper that goes away mid-scrape leaves the process serving the next one.
      const gone = http.get(url, (r) => r.once('data', () => r.destroy()));
      await new Promise((r) => gone.once('close', r));
      expect(await (await fetch(url)).text()).toBe(body);
    } finally {
      server.close();
    }
  });
});
