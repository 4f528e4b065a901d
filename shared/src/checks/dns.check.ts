import { performance } from 'node:perf_hooks';
import { randomInt } from 'node:crypto';
import * as dnsPacket from 'dns-packet';
import type { DnsCheckConfig } from '../config/schema';
import { parseHostPort } from '../config/fields';
import type { ProbeOutcome } from '../core/observation';
import { exchangeTcp, DnsTransportError, type DnsEndpoint } from '../providers/dns/client';
import { exchangeUdp } from '../providers/dns/udp';
import { rcodeName } from '../providers/dns/wire';
import type { ProbeOptions, Verdict } from './tcp.check';

/**
 * One DNS question to one server, over UDP with a TCP retry when the answer comes back truncated (RFC 7766):
 * "the provider's nameservers stopped answering for the zone" (timeout, REFUSED, SERVFAIL, not authoritative any
 * more) and "the delegation changed" (other answers).
 */
export async function probeDns(check: DnsCheckConfig, opts: ProbeOptions = {}): Promise<ProbeOutcome> {
  const started = performance.now();
  const server = parseHostPort(check.server)!;
  const endpoint: DnsEndpoint = { host: server.host.replace(/^\[(.*)\]$/, '$1'), port: server.port };
  const id = randomInt(0, 0x10000);
  const query = dnsPacket.encode({
    type: 'query',
    id,
    flags: 0, // no recursion desired: the check asks the server what it holds itself
    questions: [{ type: check.recordType, name: check.name.replace(/\.$/, ''), class: 'IN' }],
  });
  const deadline = Date.now() + check.timeout;
  let verdict: Verdict;
  try {
    let wire = await exchangeUdp(endpoint, query, check.timeout, opts.signal);
    let answer = dnsPacket.decode(wire);
    if ((answer.flags ?? 0) & dnsPacket.TRUNCATED_RESPONSE) {
      wire = await exchangeTcp(endpoint, query, Math.max(deadline - Date.now(), 1), opts.signal);
      answer = dnsPacket.decode(wire);
    }
    verdict = answer.id !== id ? { ok: false, reason: 'dns', detail: 'answer id does not match the question' } : judge(answer, check);
  } catch (err) {
    if (err instanceof DnsTransportError) {
      verdict = err.code === 'ETIMEDOUT'
        ? { ok: false, reason: 'timeout', detail: `no DNS answer from ${check.server} within ${check.timeout} ms` }
        : { ok: false, reason: err.code === 'ECONNREFUSED' ? 'refused' : 'dns', detail: `${check.server}: ${err.message}` };
    } else {
      verdict = { ok: false, reason: 'dns', detail: `malformed DNS answer from ${check.server}: ${(err as Error).message}` };
    }
  }
  return { ...verdict, durationMs: performance.now() - started };
}

/** Record data as people write it in `expect.answers`: addresses, names without the trailing dot, "10 mx.example". */
function rdataText(a: dnsPacket.Answer): string {
  const name = (n: string) => n.toLowerCase().replace(/\.$/, '');
  const data = (a as { data?: unknown }).data;
  switch (a.type) {
    case 'A':
    case 'AAAA':
      return String(data);
    case 'CNAME':
    case 'NS':
    case 'PTR':
      return name(String(data));
    case 'MX': {
      const mx = data as { preference: number; exchange: string };
      return `${mx.preference} ${name(mx.exchange)}`;
    }
    case 'TXT':
      return (Array.isArray(data) ? data : [data]).map((d) => (Buffer.isBuffer(d) ? d.toString('utf8') : String(d))).join('');
    case 'SOA': {
      const soa = data as { mname: string; rname: string; serial: number };
      return `${name(soa.mname)} ${name(soa.rname)} ${soa.serial}`;
    }
    default:
      return String(data);
  }
}

/** Expected answers normalised like rdataText, so "MX.Example." matches "mx.example". */
export function normaliseExpectedAnswer(type: string, text: string): string {
  const t = text.trim();
  if (type === 'A' || type === 'AAAA' || type === 'TXT') return t;
  return t.toLowerCase().replace(/\.$/, '').replace(/\.(\s|$)/g, '$1');
}

function judge(answer: dnsPacket.Packet, check: DnsCheckConfig): Verdict {
  const rcode = rcodeName((answer.flags ?? 0) & 0x0f);
  const where = `${check.name} ${check.recordType} @${check.server}`;
  if (rcode !== check.expect.rcode) return { ok: false, reason: 'dns', detail: `${where}: rcode ${rcode}, expected ${check.expect.rcode}` };
  const aa = ((answer.flags ?? 0) & dnsPacket.AUTHORITATIVE_ANSWER) !== 0;
  if (check.expect.authoritative !== undefined && aa !== check.expect.authoritative) {
    return { ok: false, reason: 'dns', detail: `${where}: answer is ${aa ? '' : 'not '}authoritative, expected ${check.expect.authoritative ? 'authoritative' : 'not authoritative'}` };
  }
  const records = (answer.answers ?? []).filter((a) => a.type === check.recordType).map(rdataText);
  if (check.expect.nonEmpty && records.length === 0) return { ok: false, reason: 'dns', detail: `${where}: no ${check.recordType} records in the answer` };
  if (check.expect.answers !== undefined) {
    const want = [...new Set(check.expect.answers.map((a) => normaliseExpectedAnswer(check.recordType, a)))].sort();
    const have = [...new Set(records)].sort();
    if (want.length !== have.length || want.some((w, i) => w !== have[i])) {
      return { ok: false, reason: 'dns', detail: `${where}: answers [${have.join(', ')}], expected [${want.join(', ')}]` };
    }
  }
  return { ok: true };
}
