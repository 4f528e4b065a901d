import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { isIPv4, isIPv6 } from 'node:net';
import { basename, dirname, join } from 'node:path';
import { z } from 'zod';
import { canonicalName, type Fields } from '../config/fields';
import type { Logger } from '../runtime/logger';
import {
  dnsValueFor,
  ProviderError,
  type ProviderContext,
  defineProvider,
  type StepOf,
  type StepPlan,
  type StepState,
  type TargetSite,
  type TrafficProvider,
  type VerifyResult,
} from './provider';
import { dnsRecordFields, dnsSiteIssues, dnsTtlField, MAX_DNS_TTL, recordInZoneIssues } from './dns-record';

const SERIAL_SPACE = 2 ** 32;
const CLASSES = new Set(['IN', 'CH', 'HS', 'CS']);
const TTL_UNITS: Record<string, number> = { w: 604_800, d: 86_400, h: 3_600, m: 60, s: 1 };
/** I/O failures that may clear up by themselves; anything else (EACCES, EISDIR, ...) needs a person. */
const TRANSIENT_IO = new Set(['EBUSY', 'EAGAIN', 'EINTR', 'EMFILE', 'ENFILE', 'EIO', 'ENOSPC', 'ETIMEDOUT', 'ESTALE']);

// ---------------------------------------------------------------------------------------------------------------
// Parsing

interface Token {
  text: string;
  start: number;
  end: number;
  line: number;
}

interface Entry {
  tokens: Token[];
  /** The entry's first physical line starts with white space: RFC 1035 says the owner is the previous one. */
  blankOwner: boolean;
  line: number;
  /** Offsets of the whole physical lines the entry occupies, trailing newline included. */
  start: number;
  end: number;
}

export interface ZoneRecord {
  /** Absolute, lower case. */
  owner: string;
  ownerExplicit: boolean;
  /** Effective TTL after $TTL / previous-TTL defaulting. */
  ttl: number;
  ttlExplicit: boolean;
  cls: string;
  /** Upper case. */
  type: string;
  /** Raw rdata tokens as written; relative names resolve against `origin`. */
  rdata: string[];
  origin: string;
  line: number;
  /** A directive sits between the previous record and this one. */
  afterDirective: boolean;
  start: number;
  end: number;
  /** End offset of the owner token when it is written out. */
  ownerEnd?: number;
  /** Start offset of the first token after the owner (TTL, class or type). */
  headStart: number;
}

export interface ParsedZone {
  zone: string;
  records: ZoneRecord[];
  soa: ZoneRecord;
  serial: number;
  serialStart: number;
  serialEnd: number;
  eol: string;
}

function syntaxError(source: string, line: number, message: string): ProviderError {
  return new ProviderError(`zone file ${source} line ${line}: ${message}`, false);
}

/** Splits the text into logical entries: one per line, except that parentheses join lines (SOA). */
function tokenize(text: string, source: string): Entry[] {
  const entries: Entry[] = [];
  let tokens: Token[] = [];
  let lineStart = 0;
  let line = 1;
  let entryLine = 1;
  let depth = 0;
  let parenLine = 0;
  const flush = (end: number) => {
    if (tokens.length > 0) {
      const lead = text[lineStart];
      entries.push({ tokens, blankOwner: lead === ' ' || lead === '\t', line: entryLine, start: lineStart, end });
    }
    tokens = [];
  };
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '\n') {
      i++;
      line++;
      if (depth === 0) {
        flush(i);
        lineStart = i;
        entryLine = line;
      }
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r') {
      i++;
      continue;
    }
    if (c === ';') {
      while (i < text.length && text[i] !== '\n') i++;
      continue;
    }
    if (c === '(') {
      if (depth === 0) parenLine = line;
      depth++;
      i++;
      continue;
    }
    if (c === ')') {
      if (depth === 0) throw syntaxError(source, line, "')' without a matching '('");
      depth--;
      i++;
      continue;
    }
    const start = i;
    if (c === '"') {
      i++;
      while (i < text.length && text[i] !== '"') {
        if (text[i] === '\n') throw syntaxError(source, line, 'quoted string is not closed on this line');
        i += text[i] === '\\' ? 2 : 1;
      }
      if (i >= text.length) throw syntaxError(source, line, 'quoted string is not closed');
      i++;
    } else {
      while (i < text.length && !' \t\r\n;()"'.includes(text[i])) {
        i += text[i] === '\\' && text[i + 1] !== '\n' ? 2 : 1;
      }
    }
    tokens.push({ text: text.slice(start, i), start, end: i, line });
  }
  if (depth > 0) throw syntaxError(source, parenLine, "'(' is never closed");
  flush(text.length);
  return entries;
}

/** BIND TTLs: plain seconds or unit groups such as 1h30m, 2d, 1w. */
export function parseTtl(text: string): number | undefined {
  let seconds: number;
  if (/^\d+$/.test(text)) {
    seconds = Number(text);
  } else if (/^(\d+[wdhms])+$/i.test(text)) {
    seconds = 0;
    for (const m of text.matchAll(/(\d+)([wdhms])/gi)) seconds += Number(m[1]) * TTL_UNITS[m[2].toLowerCase()];
  } else {
    return undefined;
  }
  return seconds <= MAX_DNS_TTL ? seconds : undefined;
}

/** A trailing dot makes a name absolute unless a backslash escapes it. */
function isAbsoluteName(name: string): boolean {
  if (!name.endsWith('.')) return false;
  let slashes = 0;
  for (let i = name.length - 2; i >= 0 && name[i] === '\\'; i--) slashes++;
  return slashes % 2 === 0;
}

function resolveName(name: string, origin: string): string {
  if (name === '@') return origin;
  const lower = name.toLowerCase();
  if (isAbsoluteName(lower)) return lower;
  return origin === '.' ? `${lower}.` : `${lower}.${origin}`;
}

/**
 * Parses a BIND master file far enough to find every record's owner, type, TTL and exact position. Record data is
 * kept as written, so the only rdata this module interprets is the SOA serial and the managed RRset's values.
 */
export function parseZone(text: string, zoneName: string, source: string): ParsedZone {
  const zone = canonicalName(zoneName);
  const entries = tokenize(text, source);
  const records: ZoneRecord[] = [];
  let origin = zone;
  let defaultTtl: number | undefined;
  let lastTtl: number | undefined;
  let lastClass: string | undefined;
  let lastOwner: string | undefined;
  let afterDirective = false;
  let soa: { record: ZoneRecord; serial: number; start: number; end: number } | undefined;

  for (const e of entries) {
    const fail = (message: string, line = e.line) => syntaxError(source, line, message);
    const first = e.tokens[0];
    if (first.text.startsWith('$')) {
      const directive = first.text.toUpperCase();
      const arg = e.tokens[1];
      if (directive === '$ORIGIN' || directive === '$TTL') {
        if (!arg || e.tokens.length > 2) throw fail(`${directive} takes exactly one argument`);
        if (directive === '$ORIGIN') {
          origin = resolveName(arg.text, origin);
        } else {
          const ttl = parseTtl(arg.text);
          if (ttl === undefined) throw fail(`$TTL "${arg.text}" is not a TTL`);
          defaultTtl = ttl;
        }
      } else if (directive === '$INCLUDE' || directive === '$GENERATE') {
        // Records hidden in another file or generated ranges could hold the managed RRset, and an edit here would miss them.
        throw fail(`${directive} is not supported in a zone file this provider edits`);
      } else {
        throw fail(`unknown directive ${first.text}`);
      }
      afterDirective = true;
      continue;
    }

    let i = 0;
    let owner: string;
    let ownerEnd: number | undefined;
    if (e.blankOwner) {
      if (lastOwner === undefined) throw fail('record starts with white space but there is no previous owner name');
      owner = lastOwner;
    } else {
      owner = resolveName(first.text, origin);
      ownerEnd = first.end;
      lastOwner = owner;
      i = 1;
    }
    const headStart = e.tokens[i]?.start ?? first.end;

    let explicitTtl: number | undefined;
    let explicitClass: string | undefined;
    for (;;) {
      const t = e.tokens[i]?.text;
      if (t === undefined) break;
      if (explicitTtl === undefined && /^\d/.test(t)) {
        explicitTtl = parseTtl(t);
        if (explicitTtl === undefined) throw fail(`"${t}" is not a valid TTL`, e.tokens[i].line);
        i++;
      } else if (explicitClass === undefined && CLASSES.has(t.toUpperCase())) {
        explicitClass = t.toUpperCase();
        i++;
      } else {
        break;
      }
    }
    const typeToken = e.tokens[i];
    if (!typeToken) throw fail(`record for ${owner} has no type`);
    const type = typeToken.text.toUpperCase();
    if (!/^[A-Z][A-Z0-9-]*$/.test(type) || CLASSES.has(type)) {
      throw fail(`"${typeToken.text}" is not a record type`, typeToken.line);
    }
    const rdataTokens = e.tokens.slice(i + 1);
    if (rdataTokens.length === 0) throw fail(`${type} record for ${owner} has no data`);

    let ttl: number;
    if (explicitTtl !== undefined) {
      ttl = explicitTtl;
      lastTtl = explicitTtl;
    } else if (defaultTtl !== undefined) {
      ttl = defaultTtl;
    } else if (lastTtl !== undefined) {
      // RFC 1035 semantics, which BIND still applies when there is no $TTL: the last TTL written out.
      ttl = lastTtl;
    } else if (type === 'SOA' && rdataTokens.length === 7 && parseTtl(rdataTokens[6].text) !== undefined) {
      ttl = parseTtl(rdataTokens[6].text) ?? 0;
      lastTtl = ttl;
    } else {
      throw fail(`record for ${owner} has no TTL and there is no $TTL directive before it`);
    }
    const cls = explicitClass ?? lastClass ?? 'IN';
    lastClass = cls;

    const record: ZoneRecord = {
      owner,
      ownerExplicit: ownerEnd !== undefined,
      ttl,
      ttlExplicit: explicitTtl !== undefined,
      cls,
      type,
      rdata: rdataTokens.map((t) => t.text),
      origin,
      line: e.line,
      afterDirective,
      start: e.start,
      end: e.end,
      ownerEnd,
      headStart,
    };
    afterDirective = false;

    if (type === 'SOA') {
      if (soa) throw fail(`second SOA record (the first is on line ${soa.record.line})`);
      if (owner !== zone) throw fail(`SOA record belongs to ${owner}, not to the zone ${zone}`);
      if (rdataTokens.length !== 7) {
        throw fail(`SOA record needs 7 fields (mname rname serial refresh retry expire minimum), found ${rdataTokens.length}`);
      }
      const serialToken = rdataTokens[2];
      const serial = /^\d{1,10}$/.test(serialToken.text) ? Number(serialToken.text) : NaN;
      if (!(serial < SERIAL_SPACE)) {
        throw fail(`SOA serial "${serialToken.text}" is not a number from 0 to 4294967295`, serialToken.line);
      }
      soa = { record, serial, start: serialToken.start, end: serialToken.end };
    }
    records.push(record);
  }

  if (!soa) throw new ProviderError(`zone file ${source}: no SOA record for ${zone} found`, false);
  return {
    zone,
    records,
    soa: soa.record,
    serial: soa.serial,
    serialStart: soa.start,
    serialEnd: soa.end,
    eol: text.includes('\r\n') ? '\r\n' : '\n',
  };
}

/** The comparable form of a value: IPv6 in RFC 5952 text, names absolute and lower case; undefined when invalid. */
function normaliseValue(type: string, raw: string, origin: string): string | undefined {
  if (type === 'A') return isIPv4(raw) ? raw : undefined;
  if (type === 'AAAA') {
    if (!isIPv6(raw)) return undefined;
    try {
      // The URL parser is the standard library's only IPv6 canonicaliser.
      return new URL(`http://[${raw}]/`).hostname.slice(1, -1);
    } catch {
      return undefined;
    }
  }
  if (type === 'CNAME') return /^(@|[A-Za-z0-9_*-]+(\.[A-Za-z0-9_-]+)*\.?|\.)$/.test(raw) ? resolveName(raw, origin) : undefined;
  return undefined;
}

function rrsetOf(zone: ParsedZone, owner: string, type: string): ZoneRecord[] {
  return zone.records.filter((r) => r.owner === owner && r.type === type);
}

/** The RRset's values, validated, de-duplicated (a DNS server serves an RRset as a set) and sorted. */
function rrsetValues(zone: ParsedZone, owner: string, type: string, source: string): string[] {
  const values = new Set<string>();
  for (const r of rrsetOf(zone, owner, type)) {
    const value = r.rdata.length === 1 ? normaliseValue(type, r.rdata[0], r.origin) : undefined;
    if (value === undefined) throw syntaxError(source, r.line, `"${r.rdata.join(' ')}" is not a valid ${type} value`);
    values.add(value);
  }
  return [...values].sort();
}

// ---------------------------------------------------------------------------------------------------------------
// Serial and rewrite

function looksLikeDate(serial: number): boolean {
  const m = /^(\d{4})(\d{2})(\d{2})\d{2}$/.exec(String(serial));
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (y < 1970 || y > 2200) return false;
  const date = new Date(Date.UTC(y, mo - 1, d));
  return date.getUTCFullYear() === y && date.getUTCMonth() === mo - 1 && date.getUTCDate() === d;
}

/**
 * The next SOA serial. A YYYYMMDDnn serial moves to today's YYYYMMDD00 (UTC, so every controller agrees) when that is
 * larger; otherwise serial + 1 in RFC 1982 arithmetic, which wraps 4294967295 to 0 and secondaries still see an increase.
 */
export function nextSerial(serial: number, now: Date): number {
  if (looksLikeDate(serial)) {
    const today =
      (now.getUTCFullYear() * 10_000 + (now.getUTCMonth() + 1) * 100 + now.getUTCDate()) * 100;
    if (today > serial && today < SERIAL_SPACE) return today;
  }
  return (serial + 1) % SERIAL_SPACE;
}

interface Edit {
  start: number;
  end: number;
  text: string;
}

function applyEdits(text: string, edits: Edit[]): string {
  // A stable sort keeps same-offset insertions in the order they were added.
  const sorted = [...edits].sort((a, b) => a.start - b.start);
  let out = '';
  let pos = 0;
  for (const e of sorted) {
    if (e.start < pos) throw new Error('overlapping zone file edits');
    out += text.slice(pos, e.start) + e.text;
    pos = e.end;
  }
  return out + text.slice(pos);
}

export interface RecordChange {
  owner: string;
  type: string;
  ttl: number;
  value: string;
}

/**
 * Rewrites `text` so the RRset owner/type is exactly `change`, with the SOA serial set to `serial`. Every other byte
 * stays; the result is re-parsed and compared record by record with the original, and where deleting or inserting a
 * line would change what a following record inherits (a blank owner, or a TTL under RFC 1035 rules), that record
 * gets its owner or TTL written out. Anything else that would differ is refused rather than written.
 */
export function rewriteZone(text: string, zone: ParsedZone, change: RecordChange, serial: number, source: string): string {
  const isTarget = (r: ZoneRecord) => r.owner === change.owner && r.type === change.type;
  const rrset = zone.records.filter(isTarget);
  const kept = zone.records.filter((r) => !isTarget(r));
  const line = `${change.owner} ${change.ttl} IN ${change.type} ${change.value}`;
  const edits: Edit[] = [];
  let newIndex: number;

  if (rrset.length > 0) {
    const [first, ...rest] = rrset;
    edits.push({ start: first.start, end: first.end, text: text[first.end - 1] === '\n' ? line + zone.eol : line });
    for (const r of rest) edits.push({ start: r.start, end: r.end, text: '' });
    newIndex = kept.filter((r) => r.start < first.start).length;
  } else {
    // After the SOA and the apex records written right after it (NS, MX, ...), where a reader expects new names.
    const soaIndex = zone.records.indexOf(zone.soa);
    let last = zone.soa;
    for (const r of zone.records.slice(soaIndex + 1)) {
      if (r.owner !== zone.zone || r.afterDirective) break;
      last = r;
    }
    const at = last.end;
    const needsBreak = at === text.length && !text.endsWith('\n');
    edits.push({ start: at, end: at, text: needsBreak ? zone.eol + line + zone.eol : line + zone.eol });
    newIndex = kept.filter((r) => r.end <= at).length;
  }
  edits.push({ start: zone.serialStart, end: zone.serialEnd, text: String(serial) });

  const sameData = (got: ZoneRecord, want: ZoneRecord) => {
    const rdata = want === zone.soa ? want.rdata.map((t, j) => (j === 2 ? String(serial) : t)) : want.rdata;
    return got.cls === want.cls && got.type === want.type && got.origin === want.origin && got.rdata.join(' ') === rdata.join(' ');
  };
  const refuse = (why: string) =>
    new ProviderError(`zone file ${source}: refusing to write ${change.owner} ${change.type}: ${why}`, false);
  const materialised = new Set<string>();

  for (;;) {
    const out = applyEdits(text, edits);
    let after: ParsedZone;
    try {
      after = parseZone(out, zone.zone, `${source} (rewritten)`);
    } catch (err) {
      throw refuse(`the rewritten file would not parse (${(err as Error).message})`);
    }
    if (after.records.length !== kept.length + 1) throw refuse('the rewritten file has an unexpected number of records');
    const added = after.records[newIndex];
    if (
      added.owner !== change.owner ||
      added.type !== change.type ||
      added.ttl !== change.ttl ||
      added.rdata.join(' ') !== change.value
    ) {
      throw refuse('the new record does not read back as written');
    }
    let fixed = false;
    for (let k = 0; k < kept.length; k++) {
      const want = kept[k];
      const got = after.records[k < newIndex ? k : k + 1];
      if (got.owner !== want.owner) {
        if (want.ownerExplicit || materialised.has(`${k}:owner`)) throw refuse(`line ${want.line} would change owner`);
        materialised.add(`${k}:owner`);
        // The line starts with white space, so the name stays a separate token.
        edits.push({ start: want.start, end: want.start, text: want.owner });
        fixed = true;
        break;
      }
      if (got.ttl !== want.ttl) {
        if (want.ttlExplicit || materialised.has(`${k}:ttl`)) throw refuse(`line ${want.line} would change TTL`);
        materialised.add(`${k}:ttl`);
        edits.push(
          want.ownerEnd !== undefined
            ? { start: want.ownerEnd, end: want.ownerEnd, text: ` ${want.ttl}` }
            : { start: want.headStart, end: want.headStart, text: `${want.ttl} ` },
        );
        fixed = true;
        break;
      }
      if (!sameData(got, want)) throw refuse(`line ${want.line} would change`);
    }
    if (!fixed) return out;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Provider

function errorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null || !('code' in err)) return undefined;
  const { code } = err as { code: unknown };
  return typeof code === 'string' ? code : undefined;
}

async function io<T>(source: string, what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const code = errorCode(err);
    if (code === 'ENOENT') throw new ProviderError(`zone file ${source}: ${what} failed: file or directory does not exist`, false);
    const reason = code ?? (err instanceof Error ? err.message : String(err));
    throw new ProviderError(`zone file ${source}: ${what} failed: ${reason}`, code !== undefined && TRANSIENT_IO.has(code));
  }
}

function ownerName(record: string, zone: string): string {
  return resolveName(record, canonicalName(zone));
}

const requestSchema = z.strictObject({
  path: z.string(),
  record: z.string(),
  type: z.enum(['A', 'AAAA', 'CNAME']),
  ttl: z.int().min(0).max(MAX_DNS_TTL),
  value: z.string().min(1),
  serialBump: z.literal(true),
});

class ZonefileProvider implements TrafficProvider {
  readonly kind = 'zonefile';
  readonly label: string;
  private readonly zone: string;
  private readonly owner: string;

  constructor(private readonly cfg: ZonefileStepConfig) {
    this.zone = canonicalName(cfg.zone);
    this.owner = ownerName(cfg.record, cfg.zone);
    this.label = `zonefile ${cfg.path} ${this.owner}/${cfg.type}`;
  }

  private async load(): Promise<ParsedZone> {
    const text = await io(this.cfg.path, 'read', () => fsp.readFile(this.cfg.path, 'latin1'));
    return parseZone(text, this.zone, this.cfg.path);
  }

  private desired(site: TargetSite): { value?: string; error?: string } {
    const { value, error } = dnsValueFor(this.cfg.type, site);
    if (value === undefined) return { error: `site ${site.name} ${error ?? 'has no value for this record'}` };
    const normalised = normaliseValue(this.cfg.type, value, '.');
    return normalised === undefined ? { error: `site ${site.name}: "${value}" is not a valid ${this.cfg.type} value` } : { value: normalised };
  }

  async read(): Promise<StepState> {
    const zone = await this.load();
    const values = rrsetValues(zone, this.owner, this.cfg.type, this.cfg.path);
    const rrset = rrsetOf(zone, this.owner, this.cfg.type);
    return {
      values,
      detail: rrset.length > 0 ? `ttl ${rrset[0].ttl}, serial ${zone.serial}` : `no ${this.cfg.type} record, serial ${zone.serial}`,
    };
  }

  plan(current: StepState, site: TargetSite): StepPlan {
    const { value, error } = this.desired(site);
    if (value === undefined) throw new ProviderError(`${this.label}: ${error}`, false);
    const changes = !(current.values.length === 1 && current.values[0] === value);
    return {
      kind: this.kind,
      target: site.name,
      changes,
      description: changes
        ? `rewrite ${this.cfg.path}: ${this.owner} ${this.cfg.type} [${current.values.join(', ')}] -> ${value} (ttl ${this.cfg.ttl}), bump SOA serial`
        : `${this.owner} ${this.cfg.type} already ${value} in ${this.cfg.path}`,
      request: { path: this.cfg.path, record: this.owner, type: this.cfg.type, ttl: this.cfg.ttl, value, serialBump: true },
    };
  }

  private parseRequest(plan: StepPlan): RecordChange {
    const parsed = requestSchema.safeParse(plan.request);
    if (plan.kind !== this.kind || !parsed.success) throw new ProviderError(`${this.label}: not a zonefile plan`, false);
    const req = parsed.data;
    if (req.path !== this.cfg.path || req.record !== this.owner || req.type !== this.cfg.type) {
      throw new ProviderError(`${this.label}: plan is for ${req.path} ${req.record}/${req.type}, not this step`, false);
    }
    const value = normaliseValue(req.type, req.value, '.');
    if (value === undefined) throw new ProviderError(`${this.label}: plan value "${req.value}" is not a valid ${req.type} value`, false);
    return { owner: req.record, type: req.type, ttl: req.ttl, value };
  }

  async apply(plan: StepPlan, ctx: ProviderContext): Promise<void> {
    await ctx.fence.assertHeld();
    const change = this.parseRequest(plan);
    const path = this.cfg.path;
    // Edit the file a symlink points at, so the link itself survives the rename.
    const real = await io(path, 'resolve path', () => fsp.realpath(path));
    const original = await io(path, 'read', () => fsp.readFile(real));
    // latin1 maps every byte to one character and back, so bytes we do not touch are written back unchanged.
    const text = original.toString('latin1');
    const zone = parseZone(text, this.zone, path);
    const current = rrsetValues(zone, change.owner, change.type, path);
    // The same test plan() uses, so a dry run that says "no change" is never followed by a rewrite (a TTL that
    // differs from the config is corrected by the next switch, as with the other DNS providers).
    const upToDate = current.length === 1 && current[0] === change.value;

    if (upToDate) {
      ctx.logger.debug('zone file already has the record', { path, record: change.owner, type: change.type, value: change.value });
    } else {
      this.checkConflicts(zone, change);
      const serial = nextSerial(zone.serial, new Date());
      const updated = rewriteZone(text, zone, change, serial, path);
      await this.replaceFile(real, original, Buffer.from(updated, 'latin1'), ctx);
      ctx.logger.info('zone file rewritten', {
        path,
        record: change.owner,
        type: change.type,
        from: current,
        to: change.value,
        serial: { from: zone.serial, to: serial },
      });
    }
    // A change was planned but the file already has it: an earlier attempt may have written it and then failed to
    // reload, so the server may still serve the old data.
    if (this.cfg.reloadCommand && (!upToDate || plan.changes)) await this.reload(ctx.logger);
  }

  private checkConflicts(zone: ParsedZone, change: RecordChange): void {
    const others = zone.records.filter((r) => r.owner === change.owner && r.type !== change.type);
    const clash =
      change.type === 'CNAME'
        ? others.find((r) => !['RRSIG', 'NSEC', 'NSEC3'].includes(r.type))
        : others.find((r) => r.type === 'CNAME');
    if (clash) {
      throw new ProviderError(
        `${this.label}: ${change.owner} also has a ${clash.type} record (line ${clash.line}); a CNAME cannot share its name`,
        false,
      );
    }
  }

  /** Temp file in the same directory (so rename is atomic), same mode and owner, fsynced, then renamed over. */
  private async replaceFile(real: string, original: Buffer, updated: Buffer, ctx: ProviderContext): Promise<void> {
    const source = this.cfg.path;
    const dir = dirname(real);
    const stat = await io(source, 'stat', () => fsp.stat(real));
    const mode = stat.mode & 0o7777;
    const tmp = join(dir, `.${basename(real)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
    let created = false;
    try {
      const fh = await io(source, 'create temp file', () => fsp.open(tmp, 'wx', mode));
      created = true;
      try {
        await io(source, 'write temp file', () => fh.writeFile(updated));
        // open() applies the umask; the DNS server must still be able to read the file afterwards.
        await io(source, 'chmod temp file', () => fh.chmod(mode));
        if (stat.uid !== process.getuid?.() || stat.gid !== process.getgid?.()) {
          // Only root may give a file away; elsewhere keeping our own ownership is the best we can do.
          await fh.chown(stat.uid, stat.gid).catch(() => undefined);
        }
        await io(source, 'fsync temp file', () => fh.sync());
      } finally {
        await fh.close().catch(() => undefined);
      }
      const now = await io(source, 're-read', () => fsp.readFile(real));
      if (!now.equals(original)) throw new ProviderError(`zone file ${source} changed while it was being rewritten`, true);
      // The lease can lapse while we write; checking again keeps a deposed controller from having the last word.
      await ctx.fence.assertHeld();
      await io(source, 'rename temp file', () => fsp.rename(tmp, real));
      created = false;
    } finally {
      if (created) await fsp.unlink(tmp).catch(() => undefined);
    }
    try {
      const dh = await fsp.open(dir, 'r');
      await dh.sync().finally(() => dh.close());
    } catch {
      // Some file systems refuse fsync on a directory; the rename has happened and is visible either way.
    }
  }

  private reload(logger: Logger): Promise<void> {
    const argv = this.cfg.reloadCommand ?? [];
    const [file, ...args] = argv;
    const timeout = this.cfg.reloadTimeout;
    return new Promise((resolve, reject) => {
      let grace: NodeJS.Timeout | undefined;
      const child = execFile(file, args, { timeout, killSignal: 'SIGKILL', maxBuffer: 1024 * 1024, windowsHide: true }, (err, stdout, stderr) => {
        clearTimeout(grace);
        const output = (stderr.trim() || stdout.trim()).slice(-500);
        if (!err) {
          logger.info('zone reload command finished', { command: file, output });
          resolve();
          return;
        }
        const code = err.code;
        let why: string;
        let retryable = true;
        if (code === 'ENOENT' || code === 'EACCES') {
          why = `cannot be started (${code})`;
          retryable = false;
        } else if (code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER') {
          why = 'printed more than 1 MiB of output';
        } else if (err.killed) {
          why = `did not finish within ${timeout}ms`;
        } else if (typeof code === 'number') {
          why = `exited with status ${code}`;
        } else {
          why = err.signal ? `was killed by ${err.signal}` : err.message;
        }
        reject(new ProviderError(`${this.label}: reload command ${file} ${why}${output ? `: ${output}` : ''}`, retryable));
      });
      // Commands that prompt would otherwise wait for input until the timeout.
      child.stdin?.end();
      // A background process the command started can hold our pipes open long after the command itself exited.
      child.once('exit', () => {
        grace = setTimeout(() => {
          child.stdout?.destroy();
          child.stderr?.destroy();
        }, 1000);
        grace.unref();
      });
    });
  }

  async verify(site: TargetSite): Promise<VerifyResult> {
    const { value, error } = this.desired(site);
    const { values } = await this.read();
    if (value === undefined) return { ok: false, observed: values, detail: error ?? 'no value' };
    const ok = values.length === 1 && values[0] === value;
    return {
      ok,
      observed: values,
      detail: ok
        ? `${this.owner} ${this.cfg.type} is ${value} in ${this.cfg.path}`
        : `expected ${value}, ${this.cfg.path} has [${values.join(', ')}]`,
    };
  }
}

function schema(f: Fields) {
  return z
    .strictObject({
      kind: z.literal('zonefile'),
      // Relative paths are resolved against the config file's folder by f.path().
      path: f.path(),
      zone: f.dnsName(),
      // Owner name, absolute ("www.portal.example.") or relative to the zone ("www").
      ...dnsRecordFields(f),
      ttl: dnsTtlField({ min: 0, max: MAX_DNS_TTL, default: 30 }),
      // argv of a command that makes the DNS server load the file (e.g. rndc reload zone); run without a shell.
      reloadCommand: z.array(f.nonEmpty()).min(1, 'needs at least the program to run').optional(),
      reloadTimeout: f.duration().pipe(z.number().positive('must be longer than 0')).prefault('5s'),
    })
    .superRefine((s, ctx) => {
      const zone = canonicalName(s.zone);
      for (const issue of recordInZoneIssues(ownerName(s.record, zone), zone, s.type)) ctx.addIssue({ code: 'custom', ...issue });
    });
}

export type ZonefileStepConfig = StepOf<ReturnType<typeof schema>>;

export const zonefileProvider = defineProvider({
  kind: 'zonefile',
  schema,
  checkSites: dnsSiteIssues,
  create: (step) => new ZonefileProvider(step),
});
