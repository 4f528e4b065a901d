import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { waitFor } from '../support/free-port';
import { spawnService, writeConfigFile } from '../support/processes';
import { sharedRedisUrl } from '../support/redis-server';

/**
 * Acceptance (issue 13): a process loads a provider SDK only when it creates a step of that kind. The checker never
 * creates providers, so it never loads @aws-sdk/* or cloudflare, even with such steps configured; the controller
 * loads them only when a step of that kind is configured (the positive control that this test can fail).
 */
jest.setTimeout(90_000);

const PRELOAD = path.join(__dirname, 'record-modules.js');
const SDK = /node_modules\/(@aws-sdk\/[^/]+|cloudflare)\//;

function rawConfig(traffic: Record<string, unknown>[]): Record<string, unknown> {
  const check = (port: number) => ({ type: 'http', url: `http://127.0.0.1:${port}/`, interval: '1s', timeout: '500ms' });
  return {
    redis: { url: sharedRedisUrl(), prefix: `lazy${process.pid}${Math.floor(Math.random() * 1e6)}` },
    api: { listen: '127.0.0.1:0' },
    portals: [
      {
        id: 'lazy',
        name: 'Lazy loading',
        sites: [
          // Port 9 (discard) on loopback: nothing answers, and nothing here depends on an answer.
          { name: 'primary', provider: 'a', routing: { address: '192.0.2.10' }, checks: [check(9)] },
          { name: 'standby', provider: 'b', routing: { address: '192.0.2.20' }, checks: [check(9)] },
        ],
        traffic,
      },
    ],
  };
}

const powerdns = { kind: 'powerdns', apiUrl: 'http://127.0.0.1:9', apiKey: '${LAZY_CF_TOKEN}', zone: 'lazy.example.', record: 'www.lazy.example.', type: 'A' };
const cloudflare = { kind: 'cloudflare', apiToken: '${LAZY_CF_TOKEN}', zoneId: '0123456789abcdef0123456789abcdef', record: 'www.lazy.example', type: 'A', baseUrl: 'http://127.0.0.1:9' };
const route53 = { kind: 'route53', hostedZoneId: 'ZNOTUSED', record: 'www.lazy.example.', type: 'A', endpoint: 'http://127.0.0.1:9', region: 'eu-west-1' };

/** Starts the built service with the module recorder, waits until it says it started, stops it, returns its SDKs. */
async function sdksLoadedBy(service: 'checker' | 'controller', traffic: Record<string, unknown>[]): Promise<string[]> {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'pf-modules-')), 'modules.txt');
  const proc = spawnService(service, writeConfigFile(rawConfig(traffic)), {
    NODE_OPTIONS: `--require ${PRELOAD}`,
    RECORD_MODULES_TO: out,
    LAZY_CF_TOKEN: 'not-used',
    AWS_ACCESS_KEY_ID: 'not-used',
    AWS_SECRET_ACCESS_KEY: 'not-used',
  });
  const died = proc.exited.then(() => {
    throw new Error(`${service} exited before it started:\n${proc.output()}`);
  });
  try {
    await Promise.race([waitFor(async () => proc.output().includes(`${service} started`), { timeoutMs: 60_000, intervalMs: 100, what: `${service} started` }), died]);
  } finally {
    await proc.stop();
  }
  const modules = fs.readFileSync(out, 'utf8').split('\n');
  expect(modules.length).toBeGreaterThan(50); // the recorder really ran in that process
  return [...new Set(modules.map((m) => SDK.exec(m)?.[1]).filter((m): m is string => m !== undefined))].sort();
}

it('the checker loads neither @aws-sdk/* nor cloudflare, even with Cloudflare and Route 53 steps configured', async () => {
  expect(await sdksLoadedBy('checker', [cloudflare, route53])).toEqual([]);
});

it('the controller loads no SDK for a PowerDNS step, and the SDK of each kind it creates', async () => {
  expect(await sdksLoadedBy('controller', [powerdns])).toEqual([]);
  expect(await sdksLoadedBy('controller', [cloudflare, route53])).toEqual(expect.arrayContaining(['@aws-sdk/client-route-53', 'cloudflare']));
});
