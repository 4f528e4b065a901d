// Over 350 lines on purpose: one RFC 2136 UPDATE protocol. The read of the record and of its _pf-epoch TXT, the one
// message that carries the epoch prerequisite, the record change and the new epoch, and the mapping of the server's
// answers (NXRRSET, YXDOMAIN, REFUSED, NOTAUTH) are one exchange that plan, apply and verify all share.
import { randomInt } from 'node:crypto';
import * as dnsPacket from 'dns-packet';
import { z } from 'zod';
import { canonicalName, parseHostPort, type Fields } from '../config/fields';
import { DnsTransportError, signedExchange, type DnsEndpoint, type SignedAnswer } from './dns/client';
import { decodeTsigSecret, type TsigKey } from './dns/tsig';
import { MalformedMessageError, OPCODE_UPDATE, rcodeName } from './dns/wire';
import {
  dnsValueFor,
  normaliseDnsValue,
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
import { EPOCH_TTL, epochRecordName, tokenOfText } from './epoch';
import { DNS_RECORD_TYPES, dnsRecordFields, dnsSiteIssues, dnsTtlField, MAX_DNS_TTL, recordInZoneIssues, type DnsRecordType } from './dns-record';

/**
 * Dynamic DNS UPDATE (RFC 2136) signed with TSIG (RFC 8945), for BIND, Knot, PowerDNS with dnsupdate=yes, and
 * anything else that speaks it. One UPDATE message deletes the RRset and adds the one record: the server applies
 * a message all or nothing, so no resolver ever sees the name without a value. The record is then read back with
 * an ordinary query to the same server, signed with the same key so the answer's origin is checked as well.
 *
 * Fencing: the same message replaces the epoch TXT `_pf-epoch.<record>` (the fencing token of the last leader that
 * wrote) with this leader's token, under a prerequisite (RFC 2136 §2.4) that the epoch is exactly what read() saw,
 * or that the name is not in use when there was none. A leader whose token is older than the epoch refuses before
 * sending; one that read before a newer leader wrote sends a prerequisite that no longer holds, and the server
 * refuses the whole message (NXRRSET / YXDOMAIN): nothing changes.
 */

const TYPE_CODE: Record<DnsRecordType | 'TXT', number> = { A: 1, AAAA: 28, CNAME: 5, TXT: 16 };
const TYPE_ANY = 255;
const CLASS_NONE = 254;

function schema(f: Fields) {
  return z
    .strictObject({
      kind: z.literal('rfc2136'),
      server: f.hostPort().describe('host:port of the primary name server that accepts dynamic updates for zone.'),
      zone: f.dnsName().describe('Zone the update is addressed to (the zone section of the UPDATE).'),
      ...dnsRecordFields(f, 'Record name, inside zone.'),
      ttl: dnsTtlField({ min: 0, max: MAX_DNS_TTL, default: 30 }),
      tsig: z
        .strictObject({
          name: f.dnsName().describe('Key name as the server knows it (the name given to tsig-keygen).'),
          algorithm: z.enum(['hmac-sha256', 'hmac-sha512']).default('hmac-sha256'),
          secret: f.secret().describe('The base64 secret tsig-keygen prints, as ${ENV} or file:.'),
        })
        .describe('TSIG key that signs the update and the read-back query.'),
      timeout: f.duration(1).prefault('5s').describe('Time limit of one exchange with the server.'),
    })
    .superRefine((s, ctx) => {
      for (const issue of recordInZoneIssues(canonicalName(s.record), canonicalName(s.zone), s.type)) ctx.addIssue({ code: 'custom', ...issue });
      // The message names the rule, never the value: this is a secret.
      if (decodeTsigSecret(s.tsig.secret.reveal()) === undefined) {
        ctx.addIssue({ code: 'custom', path: ['tsig', 'secret'], message: 'must be the base64 secret tsig-keygen prints (at least 16 bytes)' });
      }
    })
    .transform(({ timeout, ...rest }) => ({
      ...rest,
      zone: canonicalName(rest.zone),
      record: canonicalName(rest.record),
      tsig: { ...rest.tsig, name: canonicalName(rest.tsig.name) },
      timeoutMs: timeout,
    }));
}

export type Rfc2136StepConfig = StepOf<ReturnType<typeof schema>>;

/** Stands for the fencing token in a plan: plan() does not know it, apply() writes ctx.fence.token there. */
export const RFC2136_FENCE_TOKEN_PLACEHOLDER = '<fence token>';

/** The epoch TXT RRset as read: one entry per record, each the record's character-strings. */
const epochSetSchema = z.array(z.array(z.string())).min(1);
export type EpochSet = z.infer<typeof epochSetSchema>;

/** read()'s answer: the StepState plus the epoch TXT RRset (null: none; absent: not read). */
export interface Rfc2136State extends StepState {
  epoch?: EpochSet | null;
}
const stateEpoch = z.object({ epoch: epochSetSchema.nullable() });

const prerequisiteSchema = z.discriminatedUnion('kind', [
  // RFC 2136 §2.4.5: class NONE, type ANY.
  z.strictObject({ kind: z.literal('name-not-in-use'), name: z.string() }),
  // RFC 2136 §2.4.2: class IN, TTL 0, the whole RRset as read.
  z.strictObject({ kind: z.literal('rrset-exists-value-dependent'), name: z.string(), type: z.literal('TXT'), values: epochSetSchema }),
]);
type Prerequisite = z.infer<typeof prerequisiteSchema>;

/** plan.request as JSON: exactly what goes into the UPDATE message, minus the id, the token and the signature. */
const requestSchema = z.strictObject({
  transport: z.literal('tcp'),
  server: z.string(),
  opcode: z.literal('UPDATE'),
  zone: z.string(),
  prerequisites: z.tuple([prerequisiteSchema]),
  updates: z.tuple([
    z.strictObject({ action: z.literal('delete-rrset'), name: z.string(), type: z.enum(DNS_RECORD_TYPES) }),
    z.strictObject({ action: z.literal('add'), name: z.string(), type: z.enum(DNS_RECORD_TYPES), ttl: z.int().min(0).max(MAX_DNS_TTL), value: z.string().min(1) }),
    z.strictObject({ action: z.literal('delete-rrset'), name: z.string(), type: z.literal('TXT') }),
    z.strictObject({ action: z.literal('add'), name: z.string(), type: z.literal('TXT'), ttl: z.int().min(0).max(MAX_DNS_TTL), value: z.literal(RFC2136_FENCE_TOKEN_PLACEHOLDER) }),
  ]),
  /** The token the epoch held when read (null: none, or not one of ours); apply refuses a token older than it. */
  fence: z.strictObject({ record: z.string(), current: z.number().nullable() }),
  tsig: z.strictObject({ key: z.string(), algorithm: z.enum(['hmac-sha256', 'hmac-sha512']) }),
});
type UpdateRequest = z.infer<typeof requestSchema>;

/** The token an epoch RRset carries: one record of one string of digits; anything else is not ours. */
export function epochSetToken(set: EpochSet): number | undefined {
  return set.length === 1 && set[0].length === 1 ? tokenOfText(set[0][0]) : undefined;
}

/**
 * dns-packet encodes record data it does not know as raw bytes, and spells such a type `UNKNOWN_<code>` (it is
 * what its decoder produces for unknown types). A delete-RRset entry (class ANY, no data, RFC 2136 §2.5.2) is
 * exactly that; its typings only list named types, hence the cast.
 */
function deleteRRset(name: string, type: DnsRecordType | 'TXT'): dnsPacket.Answer {
  const raw = { name, type: `UNKNOWN_${TYPE_CODE[type]}`, class: 'ANY', ttl: 0, data: Buffer.alloc(0) };
  return raw as unknown as dnsPacket.Answer;
}

/** Octets of a name in wire form, uncompressed (dns-packet never compresses). */
function wireNameLength(name: string): number {
  const labels = name.replace(/\.$/, '').split('.').filter((l) => l.length > 0);
  return labels.reduce((n, l) => n + Buffer.byteLength(l) + 1, 1);
}

function prerequisiteRecords(p: Prerequisite): dnsPacket.Answer[] {
  if (p.kind === 'rrset-exists-value-dependent') {
    // Copies: dns-packet's TXT encoder replaces the strings of the array it is given by buffers.
    return p.values.map((strings) => ({ name: p.name, type: 'TXT', class: 'IN', ttl: 0, data: [...strings] }) as dnsPacket.Answer);
  }
  // dns-packet cannot spell class NONE; 'CS' stands in and is overwritten after encoding (see encodeUpdate).
  return [{ name: p.name, type: `UNKNOWN_${TYPE_ANY}`, class: 'CS', ttl: 0, data: Buffer.alloc(0) } as unknown as dnsPacket.Answer];
}

/** The UPDATE message of a plan, carrying `token` as the new epoch. */
export function encodeUpdate(req: UpdateRequest, id: number, token: number): Buffer {
  const [prereq] = req.prerequisites;
  const [del, add, delEpoch, addEpoch] = req.updates;
  const wire = dnsPacket.encode({
    type: 'query',
    id,
    flags: OPCODE_UPDATE << 11,
    // Zone section; prerequisite section; update section.
    questions: [{ name: req.zone, type: 'SOA', class: 'IN' }],
    answers: prerequisiteRecords(prereq),
    authorities: [
      deleteRRset(del.name, del.type),
      { name: add.name, type: add.type, class: 'IN', ttl: add.ttl, data: add.value },
      deleteRRset(delEpoch.name, delEpoch.type),
      { name: addEpoch.name, type: 'TXT', class: 'IN', ttl: addEpoch.ttl, data: [String(token)] },
    ],
    additionals: [],
  });
  if (prereq.kind === 'name-not-in-use') {
    // The first RR after the header (12 octets) and the zone (name, type, class): its class field follows its
    // name and type.
    const at = 12 + wireNameLength(req.zone) + 4 + wireNameLength(prereq.name);
    if (wire.readUInt16BE(at) !== TYPE_ANY || wire.readUInt16BE(at + 2) !== 2) throw new Error('rfc2136: prerequisite not where expected in the encoded UPDATE');
    wire.writeUInt16BE(CLASS_NONE, at + 2);
  }
  return wire;
}

const TSIG_HINTS: Record<string, string> = {
  BADSIG: 'the secret does not match the server\'s copy of the key',
  BADKEY: 'the server does not know a key of this name and algorithm (on Knot also: the zone ACL does not allow this key this change)',
  BADTIME: 'this machine\'s clock and the server\'s differ by more than 5 minutes',
  BADTRUNC: 'the server refused the MAC length',
};

class Rfc2136Provider implements TrafficProvider {
  readonly kind = 'rfc2136';
  readonly label: string;
  private readonly endpoint: DnsEndpoint;
  private readonly epochName: string;

  constructor(
    private readonly cfg: Rfc2136StepConfig,
    private readonly now: () => number = Date.now,
  ) {
    this.label = `rfc2136 ${cfg.record}/${cfg.type} via ${cfg.server}`;
    const hp = parseHostPort(cfg.server);
    if (!hp) throw new ProviderError(`${this.label}: server must be host:port`, false);
    this.endpoint = hp;
    this.epochName = epochRecordName(cfg.record);
  }

  /** Built on each use so the decoded secret never sits in a field that inspect() or JSON could print. */
  private key(): TsigKey {
    const secret = decodeTsigSecret(this.cfg.tsig.secret.reveal());
    if (!secret) throw new ProviderError(`${this.label}: tsig.secret is not a base64 key`, false);
    return { name: this.cfg.tsig.name, algorithm: this.cfg.tsig.algorithm, secret };
  }

  /** Sends a signed message; returns only answers whose TSIG verified, or an error that says what went wrong. */
  private async exchange(message: Buffer, what: 'query' | 'update', signal?: AbortSignal): Promise<SignedAnswer> {
    let answer: SignedAnswer;
    try {
      answer = await signedExchange(this.endpoint, message, this.key(), this.cfg.timeoutMs, this.now, signal);
    } catch (err) {
      if (err instanceof DnsTransportError) {
        // Refused/reset/timeout may clear up (named restarting); an answer that is not ours (EPROTO) will not.
        throw new ProviderError(`${this.label}: ${what} to ${this.cfg.server} failed: ${err.message}`, err.code !== 'EPROTO');
      }
      if (err instanceof MalformedMessageError) {
        throw new ProviderError(`${this.label}: the ${what} answer from ${this.cfg.server} is malformed: ${err.message}`, false);
      }
      throw err;
    }
    const rcode = rcodeName(answer.header.rcode);
    const key = `${this.cfg.tsig.name} (${this.cfg.tsig.algorithm})`;
    switch (answer.tsig.status) {
      case 'verified':
        return answer;
      case 'rejected':
        throw new ProviderError(
          `${this.label}: ${this.cfg.server} rejected TSIG key ${key}: ${rcode}/${answer.tsig.error} - ${TSIG_HINTS[answer.tsig.error] ?? 'TSIG error'}`,
          false,
        );
      case 'unsigned':
        if (answer.header.rcode !== 0) throw this.rcodeError(answer.header.rcode, what, ' (the answer was not signed, so it may not come from the server)');
        throw new ProviderError(`${this.label}: the ${what} answer from ${this.cfg.server} is not signed with key ${key}; not trusting it`, false);
      case 'invalid':
        // Never a silent success: an answer we cannot authenticate says nothing about what the server did.
        throw new ProviderError(
          `${this.label}: the TSIG signature of the ${what} answer from ${this.cfg.server} does not verify (${answer.tsig.reason}); ` +
            `not trusting it${what === 'update' ? ' - the update may or may not have been applied' : ''}`,
          false,
        );
    }
  }

  private rcodeError(rcode: number, what: 'query' | 'update', note = ''): ProviderError {
    const name = rcodeName(rcode);
    const at = `${this.cfg.server} answered ${name} to the ${what}`;
    switch (name) {
      case 'SERVFAIL':
        return new ProviderError(`${this.label}: ${at} (zone ${this.cfg.zone} not loaded or the server is failing)${note}`, true);
      case 'REFUSED':
        return new ProviderError(
          what === 'update'
            ? `${this.label}: ${at}: key ${this.cfg.tsig.name} may not update ${this.cfg.record} ${this.cfg.type} in zone ${this.cfg.zone} (check allow-update / update-policy on the server)${note}`
            : `${this.label}: ${at} for ${this.cfg.record} (the server does not serve zone ${this.cfg.zone} to this client)${note}`,
          false,
        );
      case 'NOTAUTH':
        return new ProviderError(`${this.label}: ${at}: it is not authoritative for zone ${this.cfg.zone}${note}`, false);
      case 'NOTZONE':
        return new ProviderError(`${this.label}: ${at}: ${this.cfg.record} is not inside zone ${this.cfg.zone}${note}`, false);
      default:
        return new ProviderError(`${this.label}: ${at}${note}`, false);
    }
  }

  /** One signed, authoritative query; the decoded answer and its rcode (NOERROR or NXDOMAIN). */
  private async query(name: string, type: DnsRecordType | 'TXT'): Promise<{ rcode: number; answers: dnsPacket.Answer[] }> {
    const query = dnsPacket.encode({ type: 'query', id: randomInt(0, 0x10000), flags: 0, questions: [{ name, type, class: 'IN' }] });
    const answer = await this.exchange(query, 'query');
    const { rcode, aa } = answer.header;
    if (rcode !== 0 && rcodeName(rcode) !== 'NXDOMAIN') throw this.rcodeError(rcode, 'query');
    // Only the server that holds the zone can confirm an update; a cache answering instead would be stale.
    if (!aa) {
      throw new ProviderError(`${this.label}: ${this.cfg.server} is not authoritative for ${name} (no AA flag); point server at the zone's primary`, false);
    }
    let decoded: dnsPacket.DecodedPacket;
    try {
      decoded = dnsPacket.decode(answer.wire);
    } catch (err) {
      throw new ProviderError(`${this.label}: the query answer from ${this.cfg.server} does not decode: ${(err as Error).message}`, false);
    }
    return { rcode, answers: (decoded.answers ?? []).filter((a) => a.type === type && canonicalName(a.name) === canonicalName(name)) };
  }

  async read(): Promise<Rfc2136State> {
    // Both at once; a failure is reported for the record first, so the same fault always gives the same error.
    const [recordRead, epochRead] = await Promise.allSettled([this.query(this.cfg.record, this.cfg.type), this.query(this.epochName, 'TXT')]);
    if (recordRead.status === 'rejected') throw recordRead.reason;
    if (epochRead.status === 'rejected') throw epochRead.reason;
    const { rcode, answers } = recordRead.value;
    const rrset = answers as dnsPacket.StringAnswer[];
    const values = rrset.map((a) => normaliseDnsValue(this.cfg.type, a.data)).sort();
    const ttl = rrset[0]?.ttl;
    const epochRRs = epochRead.value.answers as dnsPacket.TxtAnswer[];
    const epoch = epochRRs.length > 0 ? epochRRs.map((a) => (Array.isArray(a.data) ? a.data : [a.data]).map((d) => d.toString())) : null;
    return { values, ttl, epoch, detail: rrset.length > 0 ? `ttl ${ttl ?? '?'}` : rcodeName(rcode) === 'NXDOMAIN' ? 'no such name' : 'no such rrset' };
  }

  plan(current: StepState, site: TargetSite): StepPlan {
    const { value, error } = dnsValueFor(this.cfg.type, site);
    if (!value) throw new ProviderError(`${this.label}: site ${site.name} ${error}`, false);
    const changes = !(current.values.length === 1 && current.values[0] === value && (current.ttl === undefined || current.ttl === this.cfg.ttl));
    const parsed = stateEpoch.safeParse(current);
    // Not read (a state built by hand): assume no epoch yet; if one exists the prerequisite fails and nothing changes.
    const epoch = parsed.success ? parsed.data.epoch : null;
    const prerequisite: Prerequisite = epoch
      ? { kind: 'rrset-exists-value-dependent', name: this.epochName, type: 'TXT', values: epoch }
      : { kind: 'name-not-in-use', name: this.epochName };
    const request: UpdateRequest = {
      transport: 'tcp',
      server: this.cfg.server,
      opcode: 'UPDATE',
      zone: this.cfg.zone,
      prerequisites: [prerequisite],
      updates: [
        { action: 'delete-rrset', name: this.cfg.record, type: this.cfg.type },
        { action: 'add', name: this.cfg.record, type: this.cfg.type, ttl: this.cfg.ttl, value },
        { action: 'delete-rrset', name: this.epochName, type: 'TXT' },
        { action: 'add', name: this.epochName, type: 'TXT', ttl: EPOCH_TTL, value: RFC2136_FENCE_TOKEN_PLACEHOLDER },
      ],
      fence: { record: this.epochName, current: epoch ? (epochSetToken(epoch) ?? null) : null },
      tsig: { key: this.cfg.tsig.name, algorithm: this.cfg.tsig.algorithm },
    };
    const epochText = `; epoch ${this.epochName} TXT ${epoch ? epoch.map((s) => s.join(' ')).join(', ') : 'none'} -> fence token`;
    return {
      kind: this.kind,
      target: site.name,
      changes,
      description: changes
        ? `UPDATE zone ${this.cfg.zone} at ${this.cfg.server}: delete ${this.cfg.record} ${this.cfg.type} [${current.values.join(', ')}], add ${value} (ttl ${this.cfg.ttl}), signed by ${this.cfg.tsig.name}${epochText}`
        : `${this.cfg.record} ${this.cfg.type} already ${value}`,
      request,
    };
  }

  private parseRequest(plan: StepPlan): UpdateRequest {
    const parsed = requestSchema.safeParse(plan.request);
    if (plan.kind !== this.kind || !parsed.success) throw new ProviderError(`${this.label}: not an rfc2136 plan`, false);
    const req = parsed.data;
    const [del, add, delEpoch, addEpoch] = req.updates;
    const mine =
      [del.name, add.name].every((n) => n === this.cfg.record) &&
      [del.type, add.type].every((t) => t === this.cfg.type) &&
      [delEpoch.name, addEpoch.name, req.prerequisites[0].name, req.fence.record].every((n) => n === this.epochName);
    if (req.server !== this.cfg.server || req.zone !== this.cfg.zone || !mine || req.tsig.key !== this.cfg.tsig.name) {
      throw new ProviderError(`${this.label}: plan is for ${add.name}/${add.type} in ${req.zone} at ${req.server}, not this step`, false);
    }
    return req;
  }

  async apply(plan: StepPlan, ctx: ProviderContext): Promise<void> {
    if (!plan.changes) return;
    const req = this.parseRequest(plan);
    await ctx.fence.assertHeld();
    const token = ctx.fence.token;
    if (req.fence.current !== null && token < req.fence.current) {
      throw new ProviderError(
        `${this.label}: lease lost: ${this.epochName} holds fencing token ${req.fence.current}, newer than ours (${token}); a newer leader has written this record, so nothing was sent`,
        false,
      );
    }
    const answer = await this.exchange(encodeUpdate(req, randomInt(0, 0x10000), token), 'update', ctx.signal);
    const rcode = rcodeName(answer.header.rcode);
    if (rcode === 'NXRRSET' || rcode === 'YXDOMAIN') {
      const [prereq] = req.prerequisites;
      const expected = prereq.kind === 'name-not-in-use' ? 'not to exist' : `to hold ${prereq.values.map((s) => s.join(' ')).join(', ')}`;
      throw new ProviderError(
        `${this.label}: lease lost: refused by the DNS server: a newer leader wrote (${this.cfg.server} answered ${rcode}: the epoch record ${this.epochName} was expected ${expected}, as read before this update, and has changed since); nothing was changed`,
        false,
      );
    }
    if (answer.header.rcode !== 0) throw this.rcodeError(answer.header.rcode, 'update');
    const add = req.updates[1];
    ctx.logger.info('rfc2136 update accepted', { server: this.cfg.server, zone: this.cfg.zone, record: add.name, type: add.type, value: add.value, ttl: add.ttl, key: this.cfg.tsig.name, epoch: token });
  }

  async verify(site: TargetSite): Promise<VerifyResult> {
    const { value, error } = dnsValueFor(this.cfg.type, site);
    const { values } = await this.read();
    if (!value) return { ok: false, observed: values, detail: `site ${site.name} ${error}` };
    const ok = values.length === 1 && values[0] === value;
    return {
      ok,
      observed: values,
      detail: ok ? `${this.cfg.record} ${this.cfg.type} is ${value} at ${this.cfg.server}` : `expected ${value}, ${this.cfg.server} serves [${values.join(', ')}]`,
    };
  }
}

export const rfc2136Provider = defineProvider({
  kind: 'rfc2136',
  schema,
  checkSites: dnsSiteIssues,
  create: (step) => new Rfc2136Provider(step),
});
