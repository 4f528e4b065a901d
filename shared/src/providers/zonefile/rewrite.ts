import { ProviderError } from '../provider';
import { parseZone, SERIAL_SPACE, type ParsedZone, type ZoneRecord } from './parser';

/** The one edit this provider makes to a zone file: replace one RRset and bump the SOA serial, every other byte kept. */

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
