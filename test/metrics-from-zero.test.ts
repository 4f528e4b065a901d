import { e2eRawConfig, portalFixture, type PortalFixture } from './support/e2e';
import { freePort, waitFor } from './support/free-port';
import { spawnService, writeConfigFile, type ServiceProcess } from './support/processes';

/**
 * Issue #14, metrics from zero, on the services as operators run them (one process each, METRICS_LISTEN):
 * right after start every configured portal has failover_switchovers_total at 0 and the process says which build
 * it runs; only the leader exports the leader-only gauges; the metrics listener answers /healthz and /readyz.
 */
jest.setTimeout(90_000);

let fx: PortalFixture[];
const procs: ServiceProcess[] = [];

async function scrape(port: number, path = '/metrics'): Promise<{ status: number; text: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(5000) });
  return { status: res.status, text: await res.text() };
}

/** The value of one sample, or undefined when the series is not exported. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const body = line.slice(name.length + 1, line.lastIndexOf('}'));
    const got = Object.fromEntries([...body.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

beforeAll(async () => {
  fx = await Promise.all(['zero-a', 'zero-b'].map((id) => portalFixture(id)));
});

afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  await Promise.all(fx.flatMap((p) => [p.primary.close(), p.standby.close()]));
});

it('right after start: failover_switchovers_total 0 for every portal, failover_build_info; a follower has no failover_active_site', async () => {
  const file = writeConfigFile(e2eRawConfig(fx));
  const [p1, p2] = [await freePort(), await freePort()];
  const c1 = spawnService('controller', file, { METRICS_LISTEN: `127.0.0.1:${p1}` });
  procs.push(c1);
  // The first scrape that answers at all: "right after start", before any check result or switch.
  const first = await waitFor(() => scrape(p1).catch(() => undefined), { timeoutMs: 30_000, what: `controller 1 metrics on ${p1}` });
  expect(first.status).toBe(200);
  for (const p of fx) {
    expect({ portal: p.id, value: sample(first.text, 'failover_switchovers_total', { portal: p.id, from: 'primary', to: 'standby', trigger: 'auto', result: 'success' }) }).toEqual({ portal: p.id, value: 0 });
    expect({ portal: p.id, value: sample(first.text, 'failover_switchovers_total', { portal: p.id, from: 'standby', to: 'primary', trigger: 'manual', result: 'failed' }) }).toEqual({ portal: p.id, value: 0 });
    expect({ portal: p.id, value: sample(first.text, 'failover_switch_duration_seconds_count', { portal: p.id, trigger: 'auto' }) }).toEqual({ portal: p.id, value: 0 });
    expect({ portal: p.id, value: sample(first.text, 'failover_detection_seconds_count', { portal: p.id }) }).toEqual({ portal: p.id, value: 0 });
  }
  expect(sample(first.text, 'failover_provider_request_duration_seconds_count', { kind: 'powerdns', operation: 'apply', outcome: 'error' })).toBe(0);
  expect(first.text).toMatch(/^failover_build_info\{version="\d+\.\d+\.\d+[^"]*",commit="([0-9a-f]{7,40}|unknown)"\} 1$/m);

  // A second controller on the same Redis is a follower: it must not export the leader's view as its own.
  const c2 = spawnService('controller', file, { METRICS_LISTEN: `127.0.0.1:${p2}` });
  procs.push(c2);
  await waitFor(async () => /^failover_controller_leader 1$/m.test((await scrape(p1)).text), { timeoutMs: 30_000, what: 'controller 1 to lead' });
  await waitFor(async () => /^failover_active_site\{/m.test((await scrape(p1)).text), { timeoutMs: 30_000, what: "the leader's failover_active_site" });
  const follower = await waitFor(() => scrape(p2).catch(() => undefined), { timeoutMs: 30_000, what: `controller 2 metrics on ${p2}` });
  // Give the follower several lease rounds to (wrongly) publish anything.
  await new Promise((r) => setTimeout(r, 3000));
  const later = await scrape(p2);
  for (const text of [follower.text, later.text]) {
    expect(text).toMatch(/^failover_controller_leader 0$/m);
    expect(text).not.toMatch(/^failover_active_site\{/m);
    expect(text).not.toMatch(/^failover_portal_phase\{/m);
    expect(text).not.toMatch(/^failover_site_healthy\{/m);
    expect(text).not.toMatch(/^failover_site_ready\{/m);
    // Counters still exist at zero on the follower: it may become the leader and count from there.
    expect(sample(text, 'failover_switchovers_total', { portal: fx[0].id, from: 'primary', to: 'standby', trigger: 'auto', result: 'success' })).toBe(0);
  }

  // The metrics listener is also what Kubernetes probes.
  expect(await scrape(p2, '/healthz')).toEqual({ status: 200, text: '{"status":"ok"}' });
  expect(await scrape(p2, '/readyz')).toEqual({ status: 200, text: '{"status":"ready"}' });
});
