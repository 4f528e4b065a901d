import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Resolver } from 'node:dns/promises';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {
  errorMessage,
  freePort,
  freeTcpUdpPort,
  logTail,
  requireExecutable,
  spawnDaemon,
  waitFor,
  type Daemon,
} from './free-port';

export interface StartPowerDnsOptions {
  /** Seconds between LUA record health checks; 1 (not pdns's 5) keeps failover tests short. */
  luaHealthChecksInterval?: number;
  startTimeoutMs?: number;
  /** More pdns.conf lines, e.g. `primary=yes` to serve zones to secondaries by AXFR and NOTIFY them. */
  extraConfig?: string[];
}

export interface PowerDnsApi {
  /** Base URL of the webserver, without /api/v1. */
  apiUrl: string;
  apiKey: string;
}

export interface PowerDnsServer extends PowerDnsApi {
  dnsHost: '127.0.0.1';
  /** Same number for UDP and TCP. */
  dnsPort: number;
  dir: string;
  readonly pid: number;
  /** SIGTERM, wait for exit, delete the temp dir. */
  stop(): Promise<void>;
}

const SCHEMA_FILE = '/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql';
const INSTALL_HINT =
  'apt-get install -y --no-install-recommends pdns-server pdns-backend-sqlite3 sqlite3 ' +
  '(Debian/Ubuntu, as root; apt does not need to start pdns, the tests run their own pdns_server)';
// A port grabbed by another process between freePort() and pdns's bind makes pdns exit; a new pair of ports fixes it.
const START_ATTEMPTS = 3;

export async function startPowerDns(options: StartPowerDnsOptions = {}): Promise<PowerDnsServer> {
  const pdnsServer = requireExecutable('pdns_server', INSTALL_HINT);
  const sqlite3 = requireExecutable('sqlite3', INSTALL_HINT);
  if (!fs.existsSync(SCHEMA_FILE)) {
    throw new Error(`${SCHEMA_FILE} is missing (pdns-backend-sqlite3 is not installed). Install it with: ${INSTALL_HINT}`);
  }

  const errors: string[] = [];
  for (let attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-pdns-'));
    try {
      return await startOnce(pdnsServer, sqlite3, dir, options);
    } catch (err) {
      fs.rmSync(dir, { recursive: true, force: true });
      errors.push(`attempt ${attempt}: ${errorMessage(err)}`);
    }
  }
  throw new Error(`pdns_server did not start:\n${errors.join('\n')}`);
}

async function startOnce(
  pdnsServer: string,
  sqlite3: string,
  dir: string,
  options: StartPowerDnsOptions,
): Promise<PowerDnsServer> {
  const dbFile = path.join(dir, 'pdns.sqlite3');
  execFileSync(sqlite3, [dbFile], { input: fs.readFileSync(SCHEMA_FILE), stdio: ['pipe', 'ignore', 'pipe'] });

  const dnsPort = await freeTcpUdpPort('127.0.0.1');
  let webPort = await freePort('127.0.0.1');
  while (webPort === dnsPort) webPort = await freePort('127.0.0.1');
  const apiKey = randomBytes(16).toString('hex');
  const config = [
    'launch=gsqlite3',
    `gsqlite3-database=${dbFile}`,
    // pdns defaults to 0.0.0.0/:: port 53; tests must stay on loopback and on a port nobody else uses.
    'local-address=127.0.0.1',
    `local-port=${dnsPort}`,
    'query-local-address=127.0.0.1',
    // pdns writes pdns.pid and its control socket here, so it must be private to this instance.
    `socket-dir=${dir}`,
    'daemon=no',
    'guardian=no',
    'disable-syslog=yes',
    // The default secpoll sends DNS queries off the machine.
    'security-poll-suffix=',
    'webserver=yes',
    'webserver-address=127.0.0.1',
    `webserver-port=${webPort}`,
    'webserver-allow-from=127.0.0.0/8',
    'webserver-loglevel=none',
    'api=yes',
    `api-key=${apiKey}`,
    'enable-lua-records=yes',
    `lua-health-checks-interval=${options.luaHealthChecksInterval ?? 1}`,
    ...(options.extraConfig ?? []),
    '',
  ].join('\n');
  fs.writeFileSync(path.join(dir, 'pdns.conf'), config);

  const logFile = path.join(dir, 'pdns.log');
  const daemon: Daemon = await spawnDaemon(pdnsServer, [`--config-dir=${dir}`], logFile);
  const apiUrl = `http://127.0.0.1:${webPort}`;
  try {
    await waitFor(
      async () => {
        const res = await fetch(`${apiUrl}/api/v1/servers/localhost`, {
          headers: { 'X-API-Key': apiKey },
          signal: AbortSignal.timeout(2000),
        });
        return res.ok;
      },
      {
        what: `the PowerDNS API on ${apiUrl} to accept the API key`,
        timeoutMs: options.startTimeoutMs ?? 20_000,
        signal: daemon.exitSignal,
      },
    );
  } catch (err) {
    await daemon.stop('SIGKILL');
    throw new Error(`${errorMessage(err)}\npdns log (${logFile}):\n${logTail(logFile)}`);
  }

  return {
    apiUrl,
    apiKey,
    dnsHost: '127.0.0.1',
    dnsPort,
    dir,
    pid: daemon.pid,
    async stop(): Promise<void> {
      await daemon.stop('SIGTERM');
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** pdns rejects names without the trailing dot with 422. */
export function canonical(name: string): string {
  return name.endsWith('.') ? name : `${name}.`;
}

/**
 * One call to the PowerDNS API under /api/v1/servers/localhost. Throws with the status and body on any non-2xx,
 * because pdns explains rejected input (e.g. non-canonical names) only in the body.
 */
export async function pdnsRequest(
  pdns: PowerDnsApi,
  method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE',
  apiPath: string,
  body?: unknown,
): Promise<unknown> {
  const send = () =>
    fetch(`${pdns.apiUrl}/api/v1/servers/localhost${apiPath}`, {
      method,
      headers: { 'X-API-Key': pdns.apiKey, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
  let res = await send();
  // The shared sqlite backend answers a bare 500 when another test's write holds the database lock; the test's own
  // set-up write is safe to repeat (REPLACE), so try it again a few times before calling it a failure.
  for (let retry = 0; res.status === 500 && retry < 3; retry++) {
    await res.text();
    await new Promise((r) => setTimeout(r, 200 * (retry + 1)));
    res = await send();
  }
  const text = await res.text();
  if (!res.ok) throw new Error(`PowerDNS ${method} ${apiPath} -> HTTP ${res.status}: ${text}`);
  return text === '' ? undefined : (JSON.parse(text) as unknown);
}

export interface RRSetInput {
  /** Absolute name; the trailing dot is added if missing. */
  name: string;
  /** A, AAAA, CNAME, TXT, LUA, ... */
  type: string;
  ttl?: number;
  /** Record contents in zone-file presentation, e.g. '192.0.2.10' or 'A "ifurlextup(...)"' for LUA. */
  records: string[];
}

function toApiRRSet(rrset: RRSetInput, changetype?: 'REPLACE' | 'DELETE'): Record<string, unknown> {
  return {
    name: canonical(rrset.name),
    type: rrset.type,
    ttl: rrset.ttl ?? 30,
    ...(changetype === undefined ? {} : { changetype }),
    records: rrset.records.map((content) => ({ content, disabled: false })),
  };
}

/**
 * Creates a Native zone through the API, which pdns serves at once (zones inserted by SQL stay REFUSED until a
 * rediscover + purge). Adds ns1.<zone> A 127.0.0.1 unless given, since the NS name inside the zone needs an address.
 */
export async function createZone(pdns: PowerDnsApi, zone: string, rrsets: RRSetInput[] = []): Promise<void> {
  const zoneName = canonical(zone);
  const ns = `ns1.${zoneName}`;
  const all = [...rrsets];
  if (!all.some((r) => canonical(r.name) === ns && r.type === 'A')) {
    all.push({ name: ns, type: 'A', ttl: 3600, records: ['127.0.0.1'] });
  }
  await pdnsRequest(pdns, 'POST', '/zones', {
    name: zoneName,
    kind: 'Native',
    nameservers: [ns],
    rrsets: all.map((r) => toApiRRSet(r)),
  });
}

/** PATCH with changetype REPLACE; the API purges the packet cache itself, so the next query sees the change. */
export async function replaceRRsets(pdns: PowerDnsApi, zone: string, rrsets: RRSetInput[]): Promise<void> {
  await pdnsRequest(pdns, 'PATCH', `/zones/${canonical(zone)}`, {
    rrsets: rrsets.map((r) => toApiRRSet(r, 'REPLACE')),
  });
}

export async function deleteZone(pdns: PowerDnsApi, zone: string): Promise<void> {
  await pdnsRequest(pdns, 'DELETE', `/zones/${canonical(zone)}`);
}

/**
 * Asks the server over real DNS (UDP, falling back to TCP). A new Resolver per call because c-ares may cache
 * answers per channel, which would hide a change made a moment ago. No such name / no such record gives [];
 * SERVFAIL, REFUSED and timeouts throw, because they mean the server is broken rather than the record absent.
 */
export async function queryA(
  host: string,
  port: number,
  name: string,
  type: 'A' | 'AAAA' | 'CNAME' = 'A',
): Promise<string[]> {
  const resolver = new Resolver({ timeout: 2000, tries: 2 });
  resolver.setServers([net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`]);
  const queryName = name.endsWith('.') ? name.slice(0, -1) : name;
  try {
    switch (type) {
      case 'A':
        return await resolver.resolve4(queryName);
      case 'AAAA':
        return await resolver.resolve6(queryName);
      case 'CNAME':
        return await resolver.resolveCname(queryName);
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENODATA' || code === 'ENOTFOUND') return [];
    throw err;
  } finally {
    resolver.cancel();
  }
}

/** The run-wide PowerDNS from test/global-setup.ts; throws if the test was not started through the root jest config. */
export function sharedPowerDns(): PowerDnsApi & { dnsHost: '127.0.0.1'; dnsPort: number } {
  const apiUrl = process.env.TEST_PDNS_API_URL;
  const apiKey = process.env.TEST_PDNS_API_KEY;
  const dnsPort = Number(process.env.TEST_PDNS_DNS_PORT);
  if (!apiUrl || !apiKey || !Number.isInteger(dnsPort) || dnsPort <= 0) {
    throw new Error(
      'TEST_PDNS_API_URL / TEST_PDNS_API_KEY / TEST_PDNS_DNS_PORT are not set: run the tests with the root ' +
        'jest.config.js (npx jest from the repository root), whose globalSetup starts PowerDNS',
    );
  }
  return { apiUrl, apiKey, dnsHost: '127.0.0.1', dnsPort };
}
