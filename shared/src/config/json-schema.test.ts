import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv2020, { type ErrorObject } from 'ajv/dist/2020';
import { parse } from 'yaml';
import { configJsonSchema, configJsonSchemaText } from './json-schema';
import { ConfigError, parseConfig } from './load';

const root = join(__dirname, '..', '..', '..');
const shippedPath = join(root, 'config', 'failover.yaml');
const env = { PDNS_API_KEY: 'test-key', VANTAGE_HN1_KEY: 'hn1-key', VANTAGE_HCM1_KEY: 'hcm1-key' };

// strict: keywords ajv does not know, or types that do not fit a keyword, fail compilation instead of being
// ignored, so a generator change that produces a meaningless schema is caught here. strictRequired is off because
// it also flags `anyOf: [{ required: [address] }, { required: [target] }]`, whose properties are declared one
// level up, which is the idiom for "at least one of".
const ajv = new Ajv2020({ strict: true, strictRequired: false, allErrors: true });
const validate = ajv.compile(configJsonSchema());

function shipped(): Record<string, unknown> {
  return parse(readFileSync(shippedPath, 'utf8')) as Record<string, unknown>;
}

/** A config that exercises every field of both check types and both providers. */
function full(): Record<string, unknown> {
  const http = {
    type: 'http',
    name: 'home',
    url: 'https://192.0.2.10/',
    method: 'GET',
    headers: { host: 'portal.example' },
    interval: '5s',
    timeout: '2s',
    expect: { status: [200, 204], bodyIncludes: ['ok'], bodyExcludes: ['suspended'], maxLatency: '1500ms' },
    tls: { verify: false, serverName: 'portal.example' },
    redirects: { follow: true, allowOtherHost: false, max: 3 },
    maxBodyBytes: 65536,
  };
  return {
    redis: { url: 'redis://127.0.0.1:6379', prefix: 'pf' },
    api: { listen: '127.0.0.1:8080', tokens: [{ name: 'oncall', role: 'operator', sha256: 'a'.repeat(64) }] },
    checker: { vantage: 'hn-1', concurrency: 8 },
    vantages: [
      { name: 'hn-1', key: '${VANTAGE_HN1_KEY}', canary: 'https://canary.example/' },
      { name: 'hcm-1', key: '${VANTAGE_HCM1_KEY}' },
    ],
    controller: { leaseTtl: '9s', renewEvery: '3s', evaluateEvery: '250ms', stepAttempts: 2, stepBackoff: '1s' },
    portals: [
      {
        id: 'dvc-hanoi',
        name: 'Hà Nội',
        policy: { failureThreshold: 2, recoveryThreshold: 4, quorum: 2, cooldown: '1.5m', autoFailover: true, autoFailback: true, staleAfterIntervals: 4 },
        sites: [
          { name: 'primary', provider: 'a', routing: { address: '192.0.2.10', target: 'a.hosting.example.' }, checks: [http] },
          { name: 'standby', provider: 'b', routing: { address: '198.51.100.20' }, checks: [{ type: 'tcp', host: '198.51.100.20', port: 443, interval: '1h', timeout: '2s' }] },
        ],
        traffic: [
          { kind: 'powerdns', apiUrl: 'http://127.0.0.1:8081', apiKey: '${PDNS_API_KEY}', serverId: 'localhost', zone: 'portal.example.', record: 'www.portal.example.', type: 'A', ttl: 60, timeout: '3s' },
          { kind: 'zonefile', path: 'zones/portal.example.zone', zone: 'portal.example.', record: 'www', type: 'A', ttl: 30, reloadCommand: ['rndc', 'reload', 'portal.example'], reloadTimeout: '4s' },
        ],
      },
    ],
  };
}

type Doc = Record<string, unknown>;
type Mutation = (doc: Doc) => void;

/** The first portal of a document, for mutations. */
function portal0(doc: Doc): Doc {
  return (doc.portals as Doc[])[0];
}
function site(doc: Doc, i: number): Doc {
  return (portal0(doc).sites as Doc[])[i];
}
function step0(doc: Doc): Doc {
  return (portal0(doc).traffic as Doc[])[0];
}

function schemaErrors(doc: unknown): ErrorObject[] {
  return validate(doc) ? [] : (validate.errors ?? []);
}

function validatorRejects(doc: unknown): boolean {
  try {
    parseConfig(doc, 'test.yaml', env, join(root, 'config'));
    return false;
  } catch (err) {
    if (err instanceof ConfigError) return true;
    throw err;
  }
}

describe('generated JSON Schema', () => {
  it('describes the document itself', () => {
    const schema = configJsonSchema();
    expect(schema).toMatchObject({
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      $id: 'https://portal-failover.dev/schema/failover.schema.json',
      title: expect.any(String),
      type: 'object',
      required: ['portals'],
    });
  });

  it('accepts the shipped config/failover.yaml', () => {
    expect(schemaErrors(shipped())).toEqual([]);
  });

  it('accepts a config that sets every field, as the validator does', () => {
    expect(schemaErrors(full())).toEqual([]);
    expect(validatorRejects(full())).toBe(false);
  });

  it('shows defaults as users write them', () => {
    const text = configJsonSchemaText();
    expect(text).toContain('"default": "10m"');
    expect(text).toContain('"default": "redis://127.0.0.1:6379"');
    expect(text).not.toContain('600000');
  });

  const bad: [string, Mutation, (e: ErrorObject) => boolean][] = [
    [
      'an unknown field',
      (d) => ((portal0(d).policy as Doc).quorom = 2),
      (e) => e.keyword === 'additionalProperties' && e.instancePath === '/portals/0/policy' && e.params.additionalProperty === 'quorom',
    ],
    [
      'an unknown top-level section',
      (d) => (d.alerting = {}),
      (e) => e.keyword === 'additionalProperties' && e.instancePath === '' && e.params.additionalProperty === 'alerting',
    ],
    [
      'a bad duration string',
      (d) => (((site(d, 0).checks as Doc[])[0]).interval = '5 seconds'),
      (e) => e.keyword === 'pattern' && e.instancePath === '/portals/0/sites/0/checks/0/interval',
    ],
    [
      'a duration without a unit',
      (d) => (d.controller = { leaseTtl: '10' }),
      (e) => e.keyword === 'pattern' && e.instancePath === '/controller/leaseTtl',
    ],
    [
      'a number where a duration string belongs',
      (d) => ((portal0(d).policy as Doc).cooldown = 600),
      (e) => e.keyword === 'type' && e.instancePath === '/portals/0/policy/cooldown',
    ],
    [
      'an unknown provider kind',
      (d) => (step0(d).kind = 'bind9'),
      (e) => e.keyword === 'oneOf' && e.instancePath === '/portals/0/traffic/0',
    ],
    [
      'an unknown check type',
      (d) => (((site(d, 1).checks as Doc[])[0]).type = 'icmp'),
      (e) => e.keyword === 'oneOf' && e.instancePath === '/portals/0/sites/1/checks/0',
    ],
    [
      'a literal secret',
      (d) => (step0(d).apiKey = 'hunter2'),
      (e) => e.keyword === 'pattern' && e.instancePath === '/portals/0/traffic/0/apiKey',
    ],
    [
      'routing with neither address nor target',
      (d) => (site(d, 1).routing = {}),
      (e) => e.keyword === 'anyOf' && e.instancePath === '/portals/0/sites/1/routing',
    ],
    [
      'a single site',
      (d) => (portal0(d).sites = [site(d, 0)]),
      (e) => e.keyword === 'minItems' && e.instancePath === '/portals/0/sites',
    ],
    [
      'a quorum above 64',
      (d) => ((portal0(d).policy as Doc).quorum = 65),
      (e) => e.keyword === 'maximum' && e.instancePath === '/portals/0/policy/quorum',
    ],
    [
      'an upper-case portal id',
      (d) => (portal0(d).id = 'DVC'),
      (e) => e.keyword === 'pattern' && e.instancePath === '/portals/0/id',
    ],
  ];

  it.each(bad)('rejects %s (and so does the validator)', (_what, mutate, expected) => {
    const doc = full();
    mutate(doc);
    const errors = schemaErrors(doc);
    expect(errors.filter(expected)).not.toEqual([]);
    expect(validatorRejects(doc)).toBe(true);
  });

  it('also rejects the bad cases in the shipped config', () => {
    const doc = shipped();
    ((portal0(doc).policy as Doc).cooldown = '10 minutes');
    step0(doc).kind = 'cloudflare-v2';
    const paths = schemaErrors(doc).map((e) => e.instancePath);
    expect(paths).toEqual(expect.arrayContaining(['/portals/0/policy/cooldown', '/portals/0/traffic/0']));
  });

  it('is what docs/failover.schema.json holds (run `npm run schema` after changing the validator)', () => {
    const committed = readFileSync(join(root, 'docs', 'failover.schema.json'), 'utf8');
    expect(committed).toBe(configJsonSchemaText());
  });
});
