import { parseConfigText } from './load';

describe('YAML merge keys in config files', () => {
  it('`<<: *anchor` merges a block defined earlier in the file, and keys written beside it win', () => {
    const config = parseConfigText(
      `
portals:
  - id: dvc
    name: Portal
    policy: &policy { failureThreshold: 2, recoveryThreshold: 4 }
    sites:
      - name: primary
        provider: a
        routing: { address: 192.0.2.10 }
        checks: [ &check { type: http, url: "https://192.0.2.10/", interval: 5s, timeout: 2s } ]
      - name: standby
        provider: b
        routing: { address: 198.51.100.20 }
        checks: [ { <<: *check, url: "https://198.51.100.20/", timeout: 1s } ]
    traffic:
      - { kind: zonefile, path: /tmp/portal.example.zone, zone: portal.example., record: www.portal.example., type: A }
  - id: permits
    name: Permits
    policy: { <<: *policy, recoveryThreshold: 6 }
    sites:
      - { name: primary, provider: a, routing: { address: 192.0.2.11 }, checks: [ { <<: *check, url: "https://192.0.2.11/" } ] }
      - { name: standby, provider: b, routing: { address: 198.51.100.21 }, checks: [ { <<: *check, url: "https://198.51.100.21/" } ] }
    traffic:
      - { kind: zonefile, path: /tmp/permits.example.zone, zone: permits.example., record: www.permits.example., type: A }
`,
      'merge-keys',
      {},
      '/tmp',
    );
    expect(config.portals[1].policy).toMatchObject({ failureThreshold: 2, recoveryThreshold: 6 });
    expect(config.portals[0].sites[1].checks[0]).toMatchObject({ type: 'http', url: 'https://198.51.100.20/', interval: 5000, timeout: 1000 });
    expect(config.portals[1].sites[0].checks[0]).toMatchObject({ type: 'http', url: 'https://192.0.2.11/', interval: 5000, timeout: 2000 });
  });
});
