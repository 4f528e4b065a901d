import { randomBytes, randomInt } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { errorMessage, freeTcpUdpPort, logTail, requireExecutable, spawnDaemon, waitFor, type Daemon } from './free-port';

/**
 * A private Knot DNS (`knotd -c knot.conf`, in the foreground) on a free loopback port: the second RFC 2136 server
 * the rfc2136 provider is tested against, next to BIND (bind-server.ts). Everything (config, zone files, journal,
 * timer database, pid file, control socket) lives in a fresh directory per start, so nothing in /etc/knot or
 * /var/lib/knot is read or written and the Debian package's systemd unit is never involved.
 *
 * Update rights are Knot ACL rules (knot.conf(5), "ACL section"): rules per key with `action: update`, narrowed
 * with `update-type` and `update-owner: name` + `update-owner-match: equal` where a rule lists types or names.
 * The zone log is at debug level, so every ACL decision shows up in the log ("ACL, denied, action update, ...").
 * Updates go to the journal only (`journal-content: changes`, `zonefile-sync: -1`): knotd never rewrites the zone
 * file, so an update can't race a file flush and the file stays what the test wrote.
 *
 * The returned server has the same shape as a BindServer, so helpers written for BIND (rfc2136Step, adminSet in
 * test/providers/harnesses.ts) take it as it is.
 */

export const KNOT_INSTALL_HINT =
  'apt-get install -y --no-install-recommends knot (Debian/Ubuntu, as root; installs knotd and knotc in /usr/sbin. ' +
  'Without systemd nothing starts knotd; the tests run their own `knotd -c` on a free loopback port)';

export interface KnotKeySpec {
  name: string;
  algorithm: 'hmac-sha256' | 'hmac-sha512';
}

export interface KnotKey extends KnotKeySpec {
  /** base64, random bytes of the hash's length: what `keymgr -t <name> <algorithm>` prints, without running it. */
  secret: string;
}

/**
 * One ACL rule of a zone, for `key`. `update` (the default) gives update rights, narrowed by types and names when
 * given (none of them: the key may change anything in the zone). `query` gives nothing but lets TSIG-signed queries
 * with the key in: Knot looks a key's secret up through the zone's ACL, so a signed query for a zone none of whose
 * rules names the key is answered NOTAUTH/BADKEY - and the rfc2136 provider signs its read-back.
 */
export interface KnotAclRule {
  key: string;
  action?: 'update' | 'query';
  /** update-type: every record in the update must have one of these types. */
  types?: string[];
  /** update-owner-name with update-owner-match equal: every record's owner must be exactly one of these (relative to the zone unless ending in a dot). */
  names?: string[];
}

export interface KnotZoneSpec {
  /** Without the trailing dot, e.g. "portal.example". */
  name: string;
  /** Records after the SOA and NS, in zone-file syntax with names relative to the zone. */
  records: string[];
  /**
   * The zone's ACL rules. No rule with action update: every update is denied (Knot's default). Knot answers a
   * denied update NOTAUTH/BADKEY, not REFUSED, whether the key is unknown or only not allowed this change.
   */
  acl?: KnotAclRule[];
}

export interface StartKnotOptions {
  keys: KnotKeySpec[];
  zones: KnotZoneSpec[];
  /** Overrides the binary looked up (tests of the missing-binary message). */
  executable?: string;
  startTimeoutMs?: number;
}

export interface KnotServer {
  host: '127.0.0.1';
  /** Same number for UDP and TCP. */
  port: number;
  /** host:port, as a step's `server` field takes it. */
  server: string;
  dir: string;
  keys: Record<string, KnotKey>;
  readonly pid: number;
  logFile: string;
  log(): string;
  stop(): Promise<void>;
}

const START_ATTEMPTS = 3;
/** Key sizes as tsig-keygen makes them for BIND: the hash's output length. */
const SECRET_BYTES: Record<KnotKeySpec['algorithm'], number> = { 'hmac-sha256': 32, 'hmac-sha512': 64 };

function zoneFile(zone: KnotZoneSpec): string {
  return [
    '$TTL 30',
    `@   IN SOA ns1.${zone.name}. hostmaster.${zone.name}. ( 1 60 30 3600 30 )`,
    `    IN NS  ns1.${zone.name}.`,
    'ns1 IN A   127.0.0.1',
    ...zone.records,
    '',
  ].join('\n');
}

/** Knot's config is YAML-like; lists are written in the [a, b] form. */
const list = (items: string[]): string => `[${items.join(', ')}]`;

function aclRules(zoneIndex: number, zone: KnotZoneSpec): { id: string; text: string }[] {
  return (zone.acl ?? []).map((rule, i) => {
    const id = `z${zoneIndex}-acl-${i}`;
    const lines = [`  - id: ${id}`, `    key: ${rule.key}`, `    action: ${rule.action ?? 'update'}`];
    if (rule.types) lines.push(`    update-type: ${list(rule.types)}`);
    if (rule.names) {
      lines.push('    update-owner: name', '    update-owner-match: equal', `    update-owner-name: ${list(rule.names)}`);
    }
    return { id, text: lines.join('\n') };
  });
}

function knotConf(dir: string, port: number, keys: KnotKey[], zones: KnotZoneSpec[]): string {
  const acls = zones.map((z, i) => aclRules(i, z));
  const allAcls = acls.flat();
  return [
    'server:',
    // knotd's default is to listen nowhere; tests stay on loopback and a free port, UDP and TCP.
    `    listen: 127.0.0.1@${port}`,
    `    rundir: "${dir}"`,
    `    pidfile: "${path.join(dir, 'knot.pid')}"`,
    // No `user:`: knotd keeps the uid it was started with (root in CI, anyone else works too).
    '    udp-workers: 1',
    '    tcp-workers: 2',
    '    background-workers: 1',
    '',
    'control:',
    `    listen: "${path.join(dir, 'knot.sock')}"`,
    '',
    'database:',
    `    storage: "${dir}"`,
    // LMDB map sizes: the defaults (GiB) are only address space, but small ones are kinder to constrained CI.
    '    journal-db-max-size: 64M',
    '    kasp-db-max-size: 16M',
    '    timer-db-max-size: 16M',
    '    catalog-db-max-size: 16M',
    '',
    'log:',
    '  - target: stderr',
    '    server: info',
    '    control: info',
    // Debug for zones: knotd logs each ACL decision ("ACL, allowed/denied, action update, remote ..., key ...").
    '    zone: debug',
    '',
    ...(keys.length > 0
      ? ['key:', ...keys.map((k) => `  - id: ${k.name}\n    algorithm: ${k.algorithm}\n    secret: ${k.secret}`), '']
      : []),
    ...(allAcls.length > 0 ? ['acl:', ...allAcls.map((a) => a.text), ''] : []),
    'template:',
    '  - id: default',
    `    storage: "${dir}"`,
    // Updates live in the journal only; the zone file is never rewritten (no race with a flush, no stale file).
    '    zonefile-sync: -1',
    '    zonefile-load: whole',
    '    journal-content: changes',
    '    serial-policy: increment',
    '',
    'zone:',
    ...zones.map((z, i) => {
      const ids = acls[i].map((a) => a.id);
      return [`  - domain: ${z.name}`, `    file: "${path.join(dir, `db.${z.name}`)}"`, ...(ids.length > 0 ? [`    acl: ${list(ids)}`] : [])].join('\n');
    }),
    '',
  ].join('\n');
}

/** An unsigned SOA query over TCP, answered authoritatively with NOERROR and an answer: the zone is loaded and served. */
async function soaOverTcp(host: string, port: number, zone: string, timeoutMs = 1000): Promise<boolean> {
  const id = randomInt(0, 0x10000);
  const labels = zone.replace(/\.$/, '').split('.').filter((l) => l !== '');
  const qname = Buffer.concat([...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'ascii')])), Buffer.from([0])]);
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(1, 4); // QDCOUNT
  const query = Buffer.concat([header, qname, Buffer.from([0, 6, 0, 1])]); // SOA IN
  const framed = Buffer.concat([Buffer.from([query.length >> 8, query.length & 0xff]), query]);

  const answer = await new Promise<Buffer>((resolve, reject) => {
    const socket = net.createConnection({ host, port });
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => socket.destroy(new Error(`no SOA answer within ${timeoutMs} ms`)), timeoutMs);
    socket.on('connect', () => socket.write(framed));
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        clearTimeout(timer);
        socket.end();
        resolve(buf.subarray(2, 2 + buf.readUInt16BE(0)));
      }
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      reject(new Error('connection closed before a full answer'));
    });
  });
  if (answer.length < 12 || answer.readUInt16BE(0) !== id) throw new Error('answer to another query');
  const flags = answer.readUInt16BE(2);
  const rcode = flags & 0xf;
  if (rcode !== 0) throw new Error(`rcode ${rcode} for ${zone} SOA`);
  const aa = (flags & 0x0400) !== 0;
  return aa && answer.readUInt16BE(6) > 0;
}

export async function startKnot(options: StartKnotOptions): Promise<KnotServer> {
  const knotd = requireExecutable(options.executable ?? 'knotd', KNOT_INSTALL_HINT);
  const errors: string[] = [];
  for (let attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-knot-'));
    try {
      return await startOnce(knotd, dir, options);
    } catch (err) {
      fs.rmSync(dir, { recursive: true, force: true });
      errors.push(`attempt ${attempt}: ${errorMessage(err)}`);
    }
  }
  throw new Error(`knotd did not start:\n${errors.join('\n')}`);
}

async function startOnce(knotd: string, dir: string, options: StartKnotOptions): Promise<KnotServer> {
  const keys: Record<string, KnotKey> = {};
  for (const spec of options.keys) {
    keys[spec.name] = { ...spec, secret: randomBytes(SECRET_BYTES[spec.algorithm]).toString('base64') };
  }
  for (const z of options.zones) fs.writeFileSync(path.join(dir, `db.${z.name}`), zoneFile(z));

  const port = await freeTcpUdpPort('127.0.0.1');
  const confFile = path.join(dir, 'knot.conf');
  // It holds the TSIG secrets.
  fs.writeFileSync(confFile, knotConf(dir, port, Object.values(keys), options.zones), { mode: 0o600 });

  const logFile = path.join(dir, 'knotd.log');
  const daemon: Daemon = await spawnDaemon(knotd, ['-c', confFile], logFile);
  try {
    await waitFor(
      async () => {
        if (options.zones.length === 0) return fs.readFileSync(logFile, 'utf8').includes('server started');
        // Knot loads zones in the background after it starts answering: wait for every one of them.
        for (const z of options.zones) {
          if (!(await soaOverTcp('127.0.0.1', port, z.name, 500))) return false;
        }
        return true;
      },
      {
        what: `knotd on 127.0.0.1:${port} to serve ${options.zones.map((z) => z.name).join(', ') || 'anything'}`,
        timeoutMs: options.startTimeoutMs ?? 15_000,
        signal: daemon.exitSignal,
      },
    );
  } catch (err) {
    await daemon.stop('SIGKILL');
    throw new Error(`${errorMessage(err)}\nknotd log (${logFile}):\n${logTail(logFile)}`);
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
