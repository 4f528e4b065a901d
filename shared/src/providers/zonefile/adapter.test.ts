import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { makeFields } from '../../config/fields';
import { createLogger } from '../../runtime/logger';
import { ProviderError, type FenceGuard, type ProviderContext, type TargetSite, type TrafficProvider } from '../provider';
import { zonefileProvider, type ZonefileStepConfig } from './adapter';
import { parseTtl, parseZone } from './parser';
import { nextSerial } from './rewrite';

const logger = createLogger({ silent: true });
const fence: FenceGuard = { token: 1, assertHeld: async () => {} };
const ctx: ProviderContext = { fence, logger };

const primary: TargetSite = { name: 'primary', routing: { address: '192.0.2.10', target: 'primary.example.net.' } };
const standby: TargetSite = { name: 'standby', routing: { address: '198.51.100.20', target: 'Standby.Example.NET' } };
const v6: TargetSite = { name: 'v6', routing: { address: '2001:DB8:0:0::20' } };

const ZONE = `; portal.example. -- partly managed by portal-failover
$ORIGIN portal.example.
$TTL 3600
@   IN  SOA ns1.portal.example. hostmaster.portal.example. (
        2024010101 ; serial
        7200       ; refresh
        3600       ; retry
        1209600    ; expire
        300 )      ; minimum
    IN  NS  ns1
    IN  NS  ns2.portal.example.

ns1 IN  A   192.0.2.53
ns2 IN  A   192.0.2.54
www 300 IN A 192.0.2.10   ; primary site
    IN  TXT "v=spf1 -all ; not a comment"
mail    IN  MX  10 mx.portal.example.
`;

const which = (bin: string): string | undefined => {
  try {
    return execFileSync('which', [bin], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
};
const namedCheckzone = which('named-checkzone');

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zonefile-test-'));
});
afterEach(() => {
  jest.restoreAllMocks();
  fs.rmSync(dir, { recursive: true, force: true });
});

function writeZone(text: string, name = 'db.portal'): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

function config(overrides: Record<string, unknown>): ZonefileStepConfig {
  const schema = zonefileProvider.schema(makeFields({}));
  return schema.parse({ kind: 'zonefile', zone: 'portal.example.', record: 'www', type: 'A', ...overrides });
}

function provider(file: string, overrides: Record<string, unknown> = {}): TrafficProvider {
  return zonefileProvider.create(config({ path: file, ...overrides }), { logger });
}

async function switchTo(p: TrafficProvider, site: TargetSite, c: ProviderContext = ctx) {
  const plan = p.plan(await p.read(), site);
  await p.apply(plan, c);
  return plan;
}

const serialOf = (file: string) => parseZone(fs.readFileSync(file, 'latin1'), 'portal.example.', file).serial;

/** Lines of `after` that are not in `before`, and the other way round. */
function lineDiff(before: string, after: string) {
  const a = before.split('\n');
  const b = after.split('\n');
  return { removed: a.filter((l) => !b.includes(l)), added: b.filter((l) => !a.includes(l)) };
}

async function expectProviderError(promise: Promise<unknown>, pattern: RegExp, retryable: boolean) {
  const err: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ProviderError);
  expect((err as ProviderError).message).toMatch(pattern);
  expect((err as ProviderError).retryable).toBe(retryable);
}

describe('zonefile schema and site checks', () => {
  it('fills defaults and accepts a relative record name', () => {
    const c = config({ path: '/etc/bind/db.portal' });
    expect(c).toEqual({
      kind: 'zonefile',
      path: '/etc/bind/db.portal',
      zone: 'portal.example.',
      record: 'www',
      type: 'A',
      ttl: 30,
      reloadTimeout: 5_000, // fits the default 10 s lease (leaseTtl × 0.8 − renewEvery)
    });
  });

  it('resolves a relative path against the config folder; rejects a record outside the zone, an empty reload command and unknown keys', () => {
    const schema = zonefileProvider.schema(makeFields({}));
    const base = { kind: 'zonefile', path: '/z', zone: 'portal.example.', record: 'www', type: 'A' };
    const issues = (input: Record<string, unknown>) => {
      const r = schema.safeParse({ ...base, ...input });
      return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    };
    const rel = zonefileProvider.schema(makeFields({}, '/etc/portal')).safeParse({ ...base, path: 'db.portal' });
    expect(rel.success && rel.data.path).toBe('/etc/portal/db.portal');
    expect(issues({ record: 'www.other.example.' })).toEqual(['record: www.other.example. is not inside zone portal.example.']);
    expect(issues({ record: 'portal.example.', type: 'CNAME' })).toEqual(['record: a CNAME cannot be at the zone apex']);
    expect(issues({ reloadCommand: [] })).toEqual(['reloadCommand: needs at least the program to run']);
    expect(issues({ reloadTimeout: '0s' })).toEqual(['reloadTimeout: must be longer than 0']);
    expect(issues({ reloadTimeout: 'soon' })[0]).toMatch(/^reloadTimeout: "soon" is not a duration/);
    expect(issues({ extra: 1 })[0]).toMatch(/extra/);
    expect(issues({ type: 'MX' })[0]).toMatch(/^type: /);
  });

  it('checkSites names every site that cannot be written to the record type', () => {
    const step = config({ path: '/z', type: 'AAAA' });
    expect(zonefileProvider.checkSites(step, [primary, v6, { name: 'nowhere', routing: {} }])).toEqual([
      { path: ['type'], message: 'site primary routing.address 192.0.2.10 is IPv4 but the record type is AAAA' },
      { path: ['type'], message: 'site nowhere needs routing.address for an AAAA record' },
    ]);
    expect(zonefileProvider.checkSites(config({ path: '/z', type: 'CNAME' }), [primary, standby])).toEqual([]);
  });
});

describe('zone file parsing', () => {
  it('parses the sample: SOA over several lines, continuation owners, comments, TTL defaults', () => {
    const zone = parseZone(ZONE, 'portal.example.', 'db');
    expect(zone.serial).toBe(2024010101);
    const summary = zone.records.map((r) => `${r.owner} ${r.ttl} ${r.cls} ${r.type} ${r.rdata.join(' ')}`);
    expect(summary).toEqual([
      'portal.example. 3600 IN SOA ns1.portal.example. hostmaster.portal.example. 2024010101 7200 3600 1209600 300',
      'portal.example. 3600 IN NS ns1',
      'portal.example. 3600 IN NS ns2.portal.example.',
      'ns1.portal.example. 3600 IN A 192.0.2.53',
      'ns2.portal.example. 3600 IN A 192.0.2.54',
      'www.portal.example. 300 IN A 192.0.2.10',
      'www.portal.example. 3600 IN TXT "v=spf1 -all ; not a comment"',
      'mail.portal.example. 3600 IN MX 10 mx.portal.example.',
    ]);
    expect(zone.records[0].line).toBe(4);
    expect(zone.records[6].line).toBe(16);
  });

  it('handles $ORIGIN changes, @, absolute and relative names, TTL/class in either order and any case', () => {
    const text = [
      '$TTL 1h',
      '@ SOA ns1 host 1 2 3 4 5',
      'WWW 60 IN A 192.0.2.1',
      'www IN 1h30m a 192.0.2.2',
      'Www.Portal.Example. in A 192.0.2.3',
      '$ORIGIN sub.portal.example.',
      '@ A 192.0.2.4',
      'api A 192.0.2.5',
      '$origin portal.example.',
      'alias CNAME www',
      'other CNAME target.example.net.',
      'esc\\.aped TXT "a\\"b"',
    ].join('\n');
    const zone = parseZone(text, 'PORTAL.example', 'db');
    const summary = zone.records.map((r) => `${r.owner} ${r.ttl} ${r.type}`);
    expect(summary).toEqual([
      'portal.example. 3600 SOA',
      'www.portal.example. 60 A',
      'www.portal.example. 5400 A',
      'www.portal.example. 3600 A',
      'sub.portal.example. 3600 A',
      'api.sub.portal.example. 3600 A',
      'alias.portal.example. 3600 CNAME',
      'other.portal.example. 3600 CNAME',
      'esc\\.aped.portal.example. 3600 TXT',
    ]);
  });

  it('without $TTL uses the SOA minimum first and then the last TTL written out (RFC 1035)', () => {
    const text = ['@ IN SOA ns1 host 1 2 3 4 900', 'a IN A 192.0.2.1', 'b 60 IN A 192.0.2.2', 'c IN A 192.0.2.3'].join('\n');
    expect(parseZone(text, 'portal.example.', 'db').records.map((r) => r.ttl)).toEqual([900, 900, 60, 60]);
  });

  it('parses BIND TTL units', () => {
    expect(parseTtl('300')).toBe(300);
    expect(parseTtl('1w2d3h4m5s')).toBe(604_800 + 2 * 86_400 + 3 * 3600 + 4 * 60 + 5);
    expect(parseTtl('1H')).toBe(3600);
    expect(parseTtl('1x')).toBeUndefined();
    expect(parseTtl('4294967295')).toBeUndefined();
  });

  it('read() returns the RRset values, sorted, with AAAA and CNAME values in canonical form', async () => {
    const text = `$TTL 60
@ IN SOA ns1 host 1 2 3 4 5
www IN A 192.0.2.20
www IN A 192.0.2.10
WWW.portal.example. IN A 192.0.2.10
v6  IN AAAA 2001:0DB8::0:20
alias IN CNAME Target.Sub
`;
    const file = writeZone(text);
    expect((await provider(file).read()).values).toEqual(['192.0.2.10', '192.0.2.20']);
    expect((await provider(file, { record: 'v6', type: 'AAAA' }).read()).values).toEqual(['2001:db8::20']);
    expect((await provider(file, { record: 'alias.portal.example.', type: 'CNAME' }).read()).values).toEqual([
      'target.sub.portal.example.',
    ]);
    expect(await provider(file, { record: 'none' }).read()).toEqual({ values: [], detail: 'no A record, serial 1' });
  });

  describe('malformed files name the path and the line', () => {
    const cases: [string, string, RegExp][] = [
      ['no SOA', '$TTL 60\nwww IN A 192.0.2.1\n', /^zone file .*db\.portal: no SOA record for portal\.example\. found$/],
      ['serial not a number', ZONE.replace('2024010101', '2024-01-01'), /db\.portal line 5: SOA serial "2024-01-01" is not a number/],
      ['serial too large', ZONE.replace('2024010101', '4294967296'), /line 5: SOA serial "4294967296"/],
      ['SOA missing fields', '$TTL 60\n@ IN SOA ns1 host 1 2 3\n', /line 2: SOA record needs 7 fields/],
      ['paren never closed', '$TTL 60\n\n@ IN SOA ns1 host ( 1 2\n 3 4 5\n', /line 3: '\(' is never closed/],
      ['stray paren', '$TTL 60\n@ IN SOA ns1 host 1 2 3 4 5 )\n', /line 2: '\)' without a matching '\('/],
      ['unclosed quote', ZONE + 'txt IN TXT "open\n', /line 18: quoted string is not closed/],
      ['record without data', ZONE + 'x IN A\n', /line 18: A record for x\.portal\.example\. has no data/],
      ['continuation at start', '  IN A 192.0.2.1\n', /line 1: record starts with white space but there is no previous owner/],
      ['no TTL anywhere', 'www IN A 192.0.2.1\n@ IN SOA ns1 host 1 2 3 4 5\n', /line 1: record for www\.portal\.example\. has no TTL/],
      ['$INCLUDE', ZONE + '$INCLUDE other.zone\n', /line 18: \$INCLUDE is not supported/],
      ['bad TTL', ZONE + 'x 5q IN A 192.0.2.1\n', /line 18: "5q" is not a valid TTL/],
      ['SOA of another zone', '$TTL 60\nother.example. IN SOA ns1 host 1 2 3 4 5\n', /line 2: SOA record belongs to other\.example\./],
      ['bad value in the managed RRset', ZONE.replace('192.0.2.10', '192.0.2.300'), /line 15: "192\.0\.2\.300" is not a valid A value/],
    ];
    it.each(cases)('%s', async (_name, text, pattern) => {
      const file = writeZone(text);
      await expectProviderError(provider(file).read(), pattern, false);
    });

    it('a missing file is a clear, non-retryable error', async () => {
      await expectProviderError(provider(path.join(dir, 'absent.zone')).read(), /zone file .*absent\.zone: read failed: file or directory does not exist/, false);
    });

    it('a transient I/O error such as EBUSY is retryable', async () => {
      const file = writeZone(ZONE);
      const busy = Object.assign(new Error('resource busy'), { code: 'EBUSY' });
      jest.spyOn(fs.promises, 'readFile').mockRejectedValue(busy);
      await expectProviderError(provider(file).read(), /db\.portal: read failed: EBUSY/, true);
    });
  });
});

describe('zonefile provider against real files', () => {
  it('plans purely: changes, request and description', async () => {
    const file = writeZone(ZONE);
    const p = provider(file);
    const before = fs.readFileSync(file, 'latin1');
    const current = await p.read();
    expect(current).toEqual({ values: ['192.0.2.10'], ttl: 300, detail: 'ttl 300, serial 2024010101' });
    const same = provider(file, { ttl: 300 }).plan(current, primary);
    expect(same.changes).toBe(false);
    // The same value with the step's other TTL (30) is a change: the TTL is written too.
    expect(p.plan(current, primary).changes).toBe(true);
    expect(same.description).toBe(`www.portal.example. A already 192.0.2.10 (ttl 300) in ${file}`);
    const plan = p.plan(current, standby);
    expect(plan).toEqual({
      kind: 'zonefile',
      target: 'standby',
      changes: true,
      description: `rewrite ${file}: www.portal.example. A [192.0.2.10] -> 198.51.100.20 (ttl 30), bump SOA serial`,
      request: { path: file, record: 'www.portal.example.', type: 'A', ttl: 30, value: '198.51.100.20', serialBump: true },
    });
    expect(() => p.plan(current, v6)).toThrow(/site v6 routing\.address .* is IPv6/);
    expect(fs.readFileSync(file, 'latin1')).toBe(before);
  });

  it('switches the A record from primary to standby and back, keeping everything else byte for byte', async () => {
    const file = writeZone(ZONE);
    const p = provider(file);

    await switchTo(p, standby);
    const afterStandby = fs.readFileSync(file, 'latin1');
    expect(await p.read()).toMatchObject({ values: ['198.51.100.20'] });
    expect(await p.verify(standby)).toEqual({
      ok: true,
      observed: ['198.51.100.20'],
      detail: `www.portal.example. A is 198.51.100.20 in ${file}`,
    });
    expect(await p.verify(primary)).toMatchObject({ ok: false, observed: ['198.51.100.20'] });
    const serial1 = serialOf(file);
    expect(serial1).toBe(nextSerial(2024010101, new Date()));
    expect(lineDiff(ZONE, afterStandby)).toEqual({
      removed: ['        2024010101 ; serial', 'www 300 IN A 192.0.2.10   ; primary site'],
      added: [`        ${serial1} ; serial`, 'www.portal.example. 30 IN A 198.51.100.20'],
    });
    // The line position is kept, so the TXT continuation line still belongs to www.
    expect(afterStandby).toContain('www.portal.example. 30 IN A 198.51.100.20\n    IN  TXT "v=spf1 -all ; not a comment"\n');

    await switchTo(p, primary);
    expect(await p.verify(primary)).toMatchObject({ ok: true, observed: ['192.0.2.10'] });
    expect(serialOf(file)).toBe(serial1 + 1);
    const txt = parseZone(fs.readFileSync(file, 'latin1'), 'portal.example.', file).records.find((r) => r.type === 'TXT');
    expect(txt?.owner).toBe('www.portal.example.');
  });

  it('re-applying the same plan leaves the file and its serial alone', async () => {
    const file = writeZone(ZONE);
    const p = provider(file);
    const plan = await switchTo(p, standby);
    const once = fs.readFileSync(file);
    const mtime = fs.statSync(file).mtimeMs;
    await p.apply(plan, ctx);
    await switchTo(p, standby);
    expect(fs.readFileSync(file).equals(once)).toBe(true);
    expect(fs.statSync(file).mtimeMs).toBe(mtime);
  });

  it('collapses a multi-value RRset into the one value, even when the owner is written as a continuation', async () => {
    const text = `$TTL 60
@ IN SOA ns1 host 7 2 3 4 5
www IN A 192.0.2.10
mail IN MX 10 mx
www IN A 192.0.2.11
    IN TXT "belongs to www"
    IN A 192.0.2.12
ftp IN A 192.0.2.99
`;
    const file = writeZone(text);
    const p = provider(file);
    expect((await p.read()).values).toEqual(['192.0.2.10', '192.0.2.11', '192.0.2.12']);
    await switchTo(p, standby);
    const after = fs.readFileSync(file, 'latin1');
    expect(after).toBe(`$TTL 60
@ IN SOA ns1 host 8 2 3 4 5
www.portal.example. 30 IN A 198.51.100.20
mail IN MX 10 mx
www.portal.example.    IN TXT "belongs to www"
ftp IN A 192.0.2.99
`);
    expect(await p.verify(standby)).toMatchObject({ ok: true });
  });

  it('keeps inherited TTLs of the following records when the zone has no $TTL', async () => {
    const text = `@ 3600 IN SOA ns1 host 7 2 3 4 5
www 120 IN A 192.0.2.10
mail IN MX 10 mx
`;
    const file = writeZone(text);
    await switchTo(provider(file), standby);
    const after = fs.readFileSync(file, 'latin1');
    expect(after).toBe(`@ 3600 IN SOA ns1 host 8 2 3 4 5
www.portal.example. 30 IN A 198.51.100.20
mail 120 IN MX 10 mx
`);
  });

  it('bumps counter serials and wraps 4294967295 to 0', async () => {
    const file = writeZone(ZONE.replace('2024010101', '4294967295'));
    await switchTo(provider(file), standby);
    expect(serialOf(file)).toBe(0);
    await switchTo(provider(file), primary);
    expect(serialOf(file)).toBe(1);
  });

  it('inserts the record after the SOA/NS block when it does not exist', async () => {
    const file = writeZone(ZONE);
    const p = provider(file, { record: 'portal.example.', ttl: 60 });
    expect((await p.read()).values).toEqual([]);
    await switchTo(p, standby);
    const after = fs.readFileSync(file, 'latin1');
    expect(after.split('\n').slice(9, 13)).toEqual([
      '    IN  NS  ns1',
      '    IN  NS  ns2.portal.example.',
      'portal.example. 60 IN A 198.51.100.20',
      '',
    ]);
    expect(lineDiff(ZONE, after).removed).toEqual(['        2024010101 ; serial']);
    expect(await p.verify(standby)).toMatchObject({ ok: true });
    expect((await provider(file).read()).values).toEqual(['192.0.2.10']);
  });

  it('inserts into a file whose last line has no newline, and keeps CRLF line ends', async () => {
    const text = '$TTL 60\r\n@ IN SOA ns1 host 7 2 3 4 5\r\n  IN NS ns1';
    const file = writeZone(text);
    await switchTo(provider(file, { record: 'new' }), standby);
    expect(fs.readFileSync(file, 'latin1')).toBe(
      '$TTL 60\r\n@ IN SOA ns1 host 8 2 3 4 5\r\n  IN NS ns1\r\nnew.portal.example. 30 IN A 198.51.100.20\r\n',
    );
  });

  it('keeps bytes that are not UTF-8 untouched', async () => {
    const file = path.join(dir, 'db.portal');
    const text = Buffer.concat([Buffer.from('; caf'), Buffer.from([0xe9, 0xff]), Buffer.from(`\n${ZONE}`)]);
    fs.writeFileSync(file, text);
    await switchTo(provider(file), standby);
    const after = fs.readFileSync(file);
    expect(after.subarray(0, 8).equals(text.subarray(0, 8))).toBe(true);
  });

  it('switches a CNAME and refuses to put a CNAME next to other data', async () => {
    const file = writeZone(ZONE + 'portal CNAME primary.example.net.\n');
    const p = provider(file, { record: 'portal', type: 'CNAME' });
    expect((await p.read()).values).toEqual(['primary.example.net.']);
    await switchTo(p, standby);
    expect(fs.readFileSync(file, 'latin1')).toContain('portal.portal.example. 30 IN CNAME standby.example.net.\n');
    expect(await p.verify(standby)).toMatchObject({ ok: true, observed: ['standby.example.net.'] });

    const clash = provider(file, { record: 'www', type: 'CNAME' });
    const before = fs.readFileSync(file, 'latin1');
    await expectProviderError(switchTo(clash, standby), /www\.portal\.example\. also has a A record \(line 15\)/, false);
    expect(fs.readFileSync(file, 'latin1')).toBe(before);
  });

  it('writes AAAA records and compares them in canonical form', async () => {
    const file = writeZone(ZONE + 'www IN AAAA 2001:db8::10\n');
    const p = provider(file, { type: 'AAAA' });
    await switchTo(p, v6);
    expect(fs.readFileSync(file, 'latin1')).toContain('www.portal.example. 30 IN AAAA 2001:db8::20\n');
    const serial = serialOf(file);
    await switchTo(p, v6);
    expect(serialOf(file)).toBe(serial);
    expect(await p.verify(v6)).toMatchObject({ ok: true });
  });

  it('rejects a plan made for another step', async () => {
    const file = writeZone(ZONE);
    const plan = provider(file).plan({ values: [] }, standby);
    const other = provider(file, { record: 'api' });
    await expectProviderError(other.apply(plan, ctx), /plan is for .* www\.portal\.example\.\/A, not this step/, false);
  });
});

describe('atomic writes and the fence', () => {
  it('leaves no temp files behind and keeps the file mode and a symlink', async () => {
    const real = writeZone(ZONE, 'db.portal.real');
    fs.chmodSync(real, 0o640);
    const link = path.join(dir, 'db.portal');
    fs.symlinkSync(real, link);
    await switchTo(provider(link), standby);
    expect(fs.readdirSync(dir).sort()).toEqual(['db.portal', 'db.portal.real']);
    expect(fs.lstatSync(link).isSymbolicLink()).toBe(true);
    expect(fs.statSync(real).mode & 0o777).toBe(0o640);
    expect(fs.readFileSync(real, 'latin1')).toContain('198.51.100.20');
  });

  it('does not touch the file when the lease is gone', async () => {
    const file = writeZone(ZONE);
    const marker = path.join(dir, 'reloaded');
    const p = provider(file, { reloadCommand: ['/bin/sh', '-c', 'echo reloaded > "$0"', marker] });
    const plan = p.plan(await p.read(), standby);
    const mtime = fs.statSync(file).mtimeMs;
    const lost: ProviderContext = {
      logger,
      fence: {
        token: 1,
        assertHeld: async () => {
          throw new Error('lease lost');
        },
      },
    };
    await expect(p.apply(plan, lost)).rejects.toThrow('lease lost');
    expect(fs.readFileSync(file, 'latin1')).toBe(ZONE);
    expect(fs.statSync(file).mtimeMs).toBe(mtime);
    expect(fs.readdirSync(dir)).toEqual(['db.portal']);
  });

  it('checks the lease again right before the rename and cleans up the temp file when it is gone', async () => {
    const file = writeZone(ZONE);
    const p = provider(file);
    const plan = p.plan(await p.read(), standby);
    let calls = 0;
    const lapsing: ProviderContext = {
      logger,
      fence: {
        token: 1,
        assertHeld: async () => {
          calls++;
          if (calls > 1) throw new Error('lease lost');
        },
      },
    };
    await expect(p.apply(plan, lapsing)).rejects.toThrow('lease lost');
    expect(calls).toBe(2);
    expect(fs.readFileSync(file, 'latin1')).toBe(ZONE);
    expect(fs.readdirSync(dir)).toEqual(['db.portal']);
  });
});

describe('reload command', () => {
  it('runs the argv without a shell after the rewrite', async () => {
    const file = writeZone(ZONE);
    const marker = path.join(dir, 'reloaded');
    const p = provider(file, { reloadCommand: ['/bin/sh', '-c', 'grep -c 198.51.100.20 "$1" > "$0"', marker, file] });
    await switchTo(p, standby);
    // The command saw the new file: the rename happens before the reload.
    expect(fs.readFileSync(marker, 'utf8')).toBe('1\n');
  });

  it('passes shell metacharacters through literally', async () => {
    const file = writeZone(ZONE);
    const out = path.join(dir, 'args');
    const p = provider(file, { reloadCommand: ['/bin/sh', '-c', 'printf "%s" "$1" > "$0"', out, '$(touch pwned); `x` | &'] });
    await switchTo(p, standby);
    expect(fs.readFileSync(out, 'utf8')).toBe('$(touch pwned); `x` | &');
    expect(fs.existsSync(path.join(process.cwd(), 'pwned'))).toBe(false);
  });

  it('a failing command is a retryable error with its output, and a retry reloads again', async () => {
    const file = writeZone(ZONE);
    const count = path.join(dir, 'count');
    const p = provider(file, { reloadCommand: ['/bin/sh', '-c', 'echo x >> "$0"; echo "zone not loaded" >&2; exit 3', count] });
    const plan = p.plan(await p.read(), standby);
    await expectProviderError(p.apply(plan, ctx), /reload command \/bin\/sh exited with status 3: zone not loaded/, true);
    // The rewrite itself went through; the retry must not bump the serial again but must reload.
    const serial = serialOf(file);
    await expectProviderError(p.apply(plan, ctx), /status 3/, true);
    expect(serialOf(file)).toBe(serial);
    expect(fs.readFileSync(count, 'utf8')).toBe('x\nx\n');
  });

  it('does not rewrite or reload when the value and the TTL are already there', async () => {
    const file = writeZone(ZONE);
    const marker = path.join(dir, 'reloaded');
    const p = provider(file, { reloadCommand: ['/bin/sh', '-c', 'touch "$0"', marker], ttl: 300 });
    await switchTo(p, primary);
    expect(fs.existsSync(marker)).toBe(false);
    expect(fs.readFileSync(file, 'latin1')).toBe(ZONE);
  });

  it('rewrites a right value with another TTL (how a risk window lowers it), and reloads', async () => {
    const file = writeZone(ZONE);
    const marker = path.join(dir, 'reloaded-ttl');
    const p = provider(file, { reloadCommand: ['/bin/sh', '-c', 'touch "$0"', marker], ttl: 5 });
    expect(p.plan(await p.read(), primary)).toMatchObject({ changes: true, description: `rewrite ${file}: www.portal.example. A [192.0.2.10] -> 192.0.2.10 (ttl 5), bump SOA serial` });
    await switchTo(p, primary);
    expect(fs.existsSync(marker)).toBe(true);
    expect(await p.read()).toMatchObject({ values: ['192.0.2.10'], ttl: 5 });
    expect(p.plan(await p.read(), primary).changes).toBe(false);
  });

  it('times out', async () => {
    const file = writeZone(ZONE);
    const p = provider(file, { reloadCommand: ['/bin/sleep', '5'], reloadTimeout: '200ms' });
    const started = Date.now();
    await expectProviderError(switchTo(p, standby), /reload command \/bin\/sleep did not finish within 200ms/, true);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('does not wait for background processes the command left holding its output', async () => {
    const file = writeZone(ZONE);
    const p = provider(file, { reloadCommand: ['/bin/sh', '-c', 'sleep 5 & echo started'] });
    const started = Date.now();
    await switchTo(p, standby);
    expect(Date.now() - started).toBeLessThan(4000);
  });

  it('a program that does not exist is not retryable', async () => {
    const file = writeZone(ZONE);
    const p = provider(file, { reloadCommand: [path.join(dir, 'no-such-program')] });
    await expectProviderError(switchTo(p, standby), /no-such-program cannot be started \(ENOENT\)/, false);
  });
});

describe('named-checkzone (bind9-utils)', () => {
  // Optional: the assertion is skipped, not failed, where bind9-utils is not installed.
  const check = (file: string, zone: string) => {
    if (!namedCheckzone) return;
    execFileSync(namedCheckzone, ['-q', zone, file]);
  };

  it(`accepts the rewritten files${namedCheckzone ? '' : ' (named-checkzone not installed: check skipped)'}`, async () => {
    const switched = writeZone(ZONE, 'switched');
    check(switched, 'portal.example');
    await switchTo(provider(switched), standby);
    check(switched, 'portal.example');

    const inserted = writeZone(ZONE, 'inserted');
    await switchTo(provider(inserted, { record: 'portal.example.' }), standby);
    check(inserted, 'portal.example');

    const cname = writeZone(ZONE + 'portal CNAME primary.example.net.\n', 'cname');
    await switchTo(provider(cname, { record: 'portal', type: 'CNAME' }), standby);
    check(cname, 'portal.example');
    expect(serialOf(cname)).toBeGreaterThan(2024010101);
  });
});
