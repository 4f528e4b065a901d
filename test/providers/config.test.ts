import { randomBytes } from 'node:crypto';
import { ConfigError, createProvider, createLogger, parseConfig } from '@portal-failover/shared';

/**
 * The three providers through the real config loader: one portal with an rfc2136, a haproxy and a webhook step
 * validates, the cross-field rules land on the step's path, and the secrets come out as Secret objects only.
 */

const env = { TSIG: randomBytes(32).toString('base64'), HOOK: `whsec-${randomBytes(8).toString('hex')}` };
const sites = [
  { name: 'primary', provider: 'a', routing: { address: '192.0.2.10' }, checks: [{ type: 'tcp', host: '192.0.2.10', port: 443, interval: '5s', timeout: '1s' }] },
  { name: 'standby', provider: 'b', routing: { address: '198.51.100.20' }, checks: [{ type: 'tcp', host: '198.51.100.20', port: 443, interval: '5s', timeout: '1s' }] },
];
const steps = {
  rfc2136: { kind: 'rfc2136', server: '127.0.0.1:53', zone: 'portal.example', record: 'www.portal.example', type: 'A', tsig: { name: 'failover-key', secret: '${TSIG}' } },
  haproxy: { kind: 'haproxy', socket: 'unix:/run/haproxy/failover.sock', backend: 'be_portal', servers: { primary: 'web1', standby: 'web2' } },
  webhook: { kind: 'webhook', url: 'https://ops.example/hook', secret: '${HOOK}', portal: 'dvc-hanoi' },
};

function config(traffic: unknown[]) {
  return { portals: [{ id: 'dvc-hanoi', name: 'Hà Nội', sites, traffic }] };
}

function problems(raw: unknown): string[] {
  try {
    parseConfig(raw, 'test.yaml', env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => `${p.path}: ${p.message}`);
    throw err;
  }
  return [];
}

describe('rfc2136, haproxy and webhook steps in a config file', () => {
  it('validate together and become providers with readable labels', () => {
    const c = parseConfig(config([steps.rfc2136, steps.haproxy, steps.webhook]), 'test.yaml', env);
    const logger = createLogger({ silent: true });
    expect(c.portals[0].traffic.map((s) => createProvider(s, { logger }).label)).toEqual([
      'rfc2136 www.portal.example./A via 127.0.0.1:53',
      'haproxy be_portal via unix:/run/haproxy/failover.sock',
      'webhook https://ops.example/hook',
    ]);
    const text = JSON.stringify(c);
    expect(text).not.toContain(env.TSIG);
    expect(text).not.toContain(env.HOOK);
  });

  it('report cross-field problems at the step\'s path', () => {
    expect(problems(config([{ ...steps.haproxy, servers: { primary: 'web1' } }]))).toEqual([
      'portals[0].traffic[0].servers: site standby has no server here; map every site',
    ]);
    expect(problems(config([{ ...steps.rfc2136, type: 'AAAA' }]))).toEqual([
      'portals[0].traffic[0].type: site primary routing.address 192.0.2.10 is IPv4 but the record type is AAAA',
      'portals[0].traffic[0].type: site standby routing.address 198.51.100.20 is IPv4 but the record type is AAAA',
    ]);
    expect(problems(config([{ ...steps.rfc2136, tsig: { name: 'k', secret: '${NOT_SET}' } }]))).toEqual([
      'portals[0].traffic[0].tsig.secret: environment variable NOT_SET is not set',
    ]);
  });
});
