import { isIPv4, isIPv6 } from 'node:net';
import { canonicalName } from '../../config/fields';
import { MAX_DNS_TTL } from '../dns-record';
import { normaliseDnsValue, ProviderError } from '../provider';

/**
 * A BIND master file (RFC 1035 §5) read far enough to edit one RRset in place: every record's owner, type, TTL and
 * exact byte range, the SOA serial, and the managed RRset's values. Nothing here writes.
 */

export const SERIAL_SPACE = 2 ** 32;
const CLASSES = new Set(['IN', 'CH', 'HS', 'CS']);
const TTL_UNITS: Record<string, number> = { w: 604_800, d: 86_400, h: 3_600, m: 60, s: 1 };

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

export function resolveName(name: string, origin: string): string {
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
export function normaliseValue(type: string, raw: string, origin: string): string | undefined {
  if (type === 'A') return isIPv4(raw) ? raw : undefined;
  if (type === 'AAAA') return isIPv6(raw) ? normaliseDnsValue('AAAA', raw) : undefined;
  if (type === 'CNAME') return /^(@|[A-Za-z0-9_*-]+(\.[A-Za-z0-9_-]+)*\.?|\.)$/.test(raw) ? resolveName(raw, origin) : undefined;
  return undefined;
}

export function rrsetOf(zone: ParsedZone, owner: string, type: string): ZoneRecord[] {
  return zone.records.filter((r) => r.owner === owner && r.type === type);
}

/** The RRset's values, validated, de-duplicated (a DNS server serves an RRset as a set) and sorted. */
export function rrsetValues(zone: ParsedZone, owner: string, type: string, source: string): string[] {
  const values = new Set<string>();
  for (const r of rrsetOf(zone, owner, type)) {
    const value = r.rdata.length === 1 ? normaliseValue(type, r.rdata[0], r.origin) : undefined;
    if (value === undefined) throw syntaxError(source, r.line, `"${r.rdata.join(' ')}" is not a valid ${type} value`);
    values.add(value);
  }
  return [...values].sort();
}
