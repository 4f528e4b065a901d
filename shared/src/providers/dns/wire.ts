/**
 * The few DNS wire-format pieces dns-packet does not give us: walking a message to find where each record starts
 * (TSIG is computed over the exact bytes before the TSIG record, and dns-packet only hands back decoded values),
 * names in canonical wire form, and the RCODE / TSIG error names operators see in BIND's logs.
 */

export const HEADER_BYTES = 12;
export const TYPE_TSIG = 250;
export const CLASS_ANY = 255;

export const OPCODE_QUERY = 0;
export const OPCODE_UPDATE = 5;

const RCODE_NAMES: Record<number, string> = {
  0: 'NOERROR',
  1: 'FORMERR',
  2: 'SERVFAIL',
  3: 'NXDOMAIN',
  4: 'NOTIMP',
  5: 'REFUSED',
  6: 'YXDOMAIN',
  7: 'YXRRSET',
  8: 'NXRRSET',
  9: 'NOTAUTH',
  10: 'NOTZONE',
  16: 'BADSIG',
  17: 'BADKEY',
  18: 'BADTIME',
  22: 'BADTRUNC',
};

/** NOERROR, REFUSED, BADSIG, ... (RFC 6895 registry names, as dig and BIND print them). */
export function rcodeName(code: number): string {
  return RCODE_NAMES[code] ?? `RCODE${code}`;
}

export class MalformedMessageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MalformedMessageError';
  }
}

function need(buf: Buffer, offset: number, bytes: number): void {
  if (offset + bytes > buf.length) throw new MalformedMessageError(`message ends early (wanted ${bytes} bytes at offset ${offset})`);
}

/** Reads a possibly compressed name; returns it lower case and absolute, and the offset after it in the message. */
export function readName(buf: Buffer, offset: number): { name: string; end: number } {
  const labels: string[] = [];
  let pos = offset;
  let end: number | undefined;
  // A pointer can only point backwards in a sane message; the hop limit stops pointer loops in a hostile one.
  for (let hops = 0; hops < 128; hops++) {
    need(buf, pos, 1);
    const len = buf[pos];
    if (len === 0) {
      return { name: labels.length === 0 ? '.' : `${labels.join('.')}.`.toLowerCase(), end: end ?? pos + 1 };
    }
    if ((len & 0xc0) === 0xc0) {
      need(buf, pos, 2);
      end ??= pos + 2;
      pos = ((len & 0x3f) << 8) | buf[pos + 1];
      continue;
    }
    if ((len & 0xc0) !== 0) throw new MalformedMessageError(`unsupported label type 0x${len.toString(16)} at offset ${pos}`);
    need(buf, pos + 1, len);
    labels.push(buf.toString('latin1', pos + 1, pos + 1 + len));
    pos += 1 + len;
  }
  throw new MalformedMessageError('name compression loop');
}

/** A name in canonical wire form (RFC 4034 §6.2: lower case, uncompressed), as the TSIG MAC covers it. */
export function canonicalWireName(name: string): Buffer {
  const trimmed = name.replace(/\.$/, '').toLowerCase();
  if (trimmed === '') return Buffer.from([0]);
  const parts = trimmed.split('.').map((label) => {
    const bytes = Buffer.from(label, 'latin1');
    if (bytes.length === 0 || bytes.length > 63) throw new MalformedMessageError(`bad label "${label}" in ${name}`);
    return Buffer.concat([Buffer.from([bytes.length]), bytes]);
  });
  return Buffer.concat([...parts, Buffer.from([0])]);
}

export interface RecordPosition {
  /** Offset of the owner name. */
  start: number;
  name: string;
  type: number;
  cls: number;
  ttl: number;
  rdataStart: number;
  /** Offset after the record. */
  end: number;
}

export interface MessageLayout {
  id: number;
  flags: number;
  opcode: number;
  /** The 4-bit header RCODE (TSIG errors travel in the TSIG record, not here). */
  rcode: number;
  qr: boolean;
  aa: boolean;
  tc: boolean;
  counts: [number, number, number, number];
  /** Every record after the question section, in order: answers, authorities, additionals. */
  records: RecordPosition[];
}

/** Walks the whole message without decoding record data, so that the exact byte ranges are known. */
export function layout(buf: Buffer): MessageLayout {
  need(buf, 0, HEADER_BYTES);
  const flags = buf.readUInt16BE(2);
  const counts: [number, number, number, number] = [buf.readUInt16BE(4), buf.readUInt16BE(6), buf.readUInt16BE(8), buf.readUInt16BE(10)];
  let pos = HEADER_BYTES;
  for (let i = 0; i < counts[0]; i++) {
    pos = readName(buf, pos).end;
    need(buf, pos, 4);
    pos += 4;
  }
  const records: RecordPosition[] = [];
  const total = counts[1] + counts[2] + counts[3];
  for (let i = 0; i < total; i++) {
    const start = pos;
    const { name, end } = readName(buf, pos);
    need(buf, end, 10);
    const type = buf.readUInt16BE(end);
    const cls = buf.readUInt16BE(end + 2);
    const ttl = buf.readUInt32BE(end + 4);
    const rdlength = buf.readUInt16BE(end + 8);
    need(buf, end + 10, rdlength);
    records.push({ start, name, type, cls, ttl, rdataStart: end + 10, end: end + 10 + rdlength });
    pos = end + 10 + rdlength;
  }
  return {
    id: buf.readUInt16BE(0),
    flags,
    opcode: (flags >> 11) & 0xf,
    rcode: flags & 0xf,
    qr: (flags & 0x8000) !== 0,
    aa: (flags & 0x0400) !== 0,
    tc: (flags & 0x0200) !== 0,
    counts,
    records,
  };
}
