import { execFileSync } from 'node:child_process';
import { Resolver } from 'node:dns/promises';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { errorMessage, freeTcpUdpPort, logTail, requireExecutable, spawnDaemon, waitFor, type Daemon } from './free-port';

/**
 * A private BIND 9 (`named -g`) on a free loopback port, configured as shared/recipes/bind-rfc2136.md describes:
 * TSIG keys from tsig-keygen, zones whose update rights are given per key, and everything (zone files, journals,
 * pid, session key) in a fresh directory per start. A fresh directory is what keeps the journal pitfall away: a
 * `.jnl` left next to a regenerated zone file makes named refuse to load the zone.
 */

export const BIND_INSTALL_HINT =
  'apt-get install -y --no-install-recommends bind9 bind9-utils (Debian/Ubuntu, as root; apt does not start named here, ' +
  'the tests run their own `named -g` on a free loopback port)';

export interface BindKeySpec {
  name: string;
  algorithm: 'hmac-sha256' | 'hmac-sha512';
}

export interface BindKey extends BindKeySpec {
  /** base64, as tsig-keygen printed it. */
  secret: string;
}

export interface BindZoneSpec {
  /** Without the trailing dot, e.g. "portal.example". */
  name: string;
  /** Records after the SOA and NS, in zone-file syntax with names relative to the zone. */
  records: string[];
  /**
   * Statements inside `update-policy { ... };`, e.g. `grant failover-key name www.portal.example. A;`.
   * None: the zone takes no updates at all (BIND's default), so an update is REFUSED.
   */
  updatePolicy?: string[];
  /**
   * Makes it a secondary zone transferred by AXFR from these primaries ("127.0.0.1 port 5300"), refreshed when one
   * sends NOTIFY; `records` is then unused (the zone comes from the primary).
   */
  primaries?: string[];
}

export interface StartBindOptions {
  keys: BindKeySpec[];
  zones: BindZoneSpec[];
  /** Overrides the binary looked up (tests of the missing-binary message). */
  executable?: string;
  startTimeoutMs?: number;
}

export interface BindServer {
  host: '127.0.0.1';
  /** Same number for UDP and TCP. */
  port: number;
  /** host:port, as a step's `server` field takes it. */
  server: string;
  dir: string;
  keys: Record<string, BindKey>;
  readonly pid: number;
  logFile: string;
  log(): string;
  stop(): Promise<void>;
}

const START_ATTEMPTS = 3;

function generateKey(tsigKeygen: string, spec: BindKeySpec): { conf: string; key: BindKey } {
  const conf = execFileSync(tsigKeygen, ['-a', spec.algorithm, spec.name], { encoding: 'utf8' });
  const m = /secret\s+"([^"]+)"/.exec(conf);
  if (!m) throw new Error(`tsig-keygen printed no secret:\n${conf}`);
  return { conf, key: { ...spec, secret: m[1] } };
}

function zoneFile(zone: BindZoneSpec): string {
  return [
    '$TTL 30',
    `@   IN SOA ns1.${zone.name}. hostmaster.${zone.name}. ( 1 60 30 3600 30 )`,
    `    IN NS  ns1.${zone.name}.`,
    'ns1 IN A   127.0.0.1',
    ...zone.records,
    '',
  ].join('\n');
}

export async function startBind(options: StartBindOptions): Promise<BindServer> {
  const named = requireExecutable(options.executable ?? 'named', BIND_INSTALL_HINT);
  const tsigKeygen = requireExecutable('tsig-keygen', BIND_INSTALL_HINT);
  const errors: string[] = [];
  for (let attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-bind-'));
    try {
      return await startOnce(named, tsigKeygen, dir, options);
    } catch (err) {
      fs.rmSync(dir, { recursive: true, force: true });
      errors.push(`attempt ${attempt}: ${errorMessage(err)}`);
    }
  }
  throw new Error(`named did not start:\n${errors.join('\n')}`);
}

async function startOnce(named: string, tsigKeygen: string, dir: string, options: StartBindOptions): Promise<BindServer> {
  const keys: Record<string, BindKey> = {};
  const keyConfs: string[] = [];
  for (const spec of options.keys) {
    const { conf, key } = generateKey(tsigKeygen, spec);
    keys[spec.name] = key;
    keyConfs.push(conf);
  }
  fs.writeFileSync(path.join(dir, 'keys.conf'), keyConfs.join('\n'), { mode: 0o600 });

  const port = await freeTcpUdpPort('127.0.0.1');
  const zoneBlocks = options.zones.map((z) => {
    const file = path.join(dir, `db.${z.name}`);
    if (z.primaries) {
      return `zone "${z.name}" {\n    type secondary;\n    file "${file}";\n    primaries { ${z.primaries.map((p) => `${p};`).join(' ')} };\n    notify no;\n};\n`;
    }
    fs.writeFileSync(file, zoneFile(z));
    const policy = z.updatePolicy ? `    update-policy {\n${z.updatePolicy.map((s) => `        ${s}`).join('\n')}\n    };\n` : '';
    return `zone "${z.name}" {\n    type primary;\n    file "${file}";\n${policy}};\n`;
  });
  const conf = [
    `include "${path.join(dir, 'keys.conf')}";`,
    'options {',
    `    directory "${dir}";`,
    `    pid-file "${path.join(dir, 'named.pid')}";`,
    `    session-keyfile "${path.join(dir, 'session.key')}";`,
    `    managed-keys-directory "${dir}";`,
    // named's defaults listen on every interface on port 53; tests stay on loopback and a free port.
    `    listen-on port ${port} { 127.0.0.1; };`,
    '    listen-on-v6 { none; };',
    '    recursion no;',
    '    allow-query { 127.0.0.1; };',
    '    dnssec-validation no;',
    '};',
    // No rndc channel: nothing here needs it, and it would be one more port to find.
    'controls { };',
    ...zoneBlocks,
    '',
  ].join('\n');
  const confFile = path.join(dir, 'named.conf');
  fs.writeFileSync(confFile, conf);

  const logFile = path.join(dir, 'named.log');
  const daemon: Daemon = await spawnDaemon(named, ['-g', '-c', confFile], logFile);
  const first = options.zones[0]?.name;
  try {
    await waitFor(
      async () => {
        if (!first) return fs.readFileSync(logFile, 'utf8').includes('running');
        const resolver = new Resolver({ timeout: 500, tries: 1 });
        resolver.setServers([`127.0.0.1:${port}`]);
        try {
          return (await resolver.resolveSoa(first)).serial > 0;
        } finally {
          resolver.cancel();
        }
      },
      { what: `named on 127.0.0.1:${port} to serve ${first ?? 'anything'}`, timeoutMs: options.startTimeoutMs ?? 15_000, signal: daemon.exitSignal },
    );
  } catch (err) {
    await daemon.stop('SIGKILL');
    throw new Error(`${errorMessage(err)}\nnamed log (${logFile}):\n${logTail(logFile)}`);
  }

  return {
    host: '127.0.0.1',
    port,
    server: `127.0.0.1:${port}`,
    dir,
    keys,
    pid: daemon.pid,
    logFile,
    log: () => fs.readFileSync(logFile, 'utf8'),
    async stop(): Promise<void> {
      await daemon.stop('SIGTERM');
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
