import { z } from 'zod';
import type { Fields } from '../config/fields';
import { dnsVerifyField } from './dns-propagation';
import { dnsValueFor, type SiteIssue, type TargetSite } from './provider';

/**
 * What every DNS provider's step repeats: the record it manages, its type and TTL, and the rules between them, the
 * zone and the portal's sites. One home, so a rule said for one DNS provider holds for all of them.
 */

export const DNS_RECORD_TYPES = ['A', 'AAAA', 'CNAME'] as const;
export type DnsRecordType = (typeof DNS_RECORD_TYPES)[number];

/** RFC 2181 §8: TTLs are unsigned 31-bit. */
export const MAX_DNS_TTL = 2 ** 31 - 1;

/**
 * The `record`, `type` and `verify` fields of a DNS step, spread into the provider's strictObject; `record` says
 * what it means there. `verify` is the propagation check after a switch (dns-propagation.ts).
 */
export function dnsRecordFields(f: Fields, recordDescription?: string) {
  const record = f.dnsName();
  return {
    record: recordDescription ? record.describe(recordDescription) : record,
    type: z.enum(DNS_RECORD_TYPES).describe('A and AAAA take routing.address, CNAME takes routing.target.'),
    verify: dnsVerifyField(f),
  };
}

/** The `ttl` field of a DNS step: the range the provider's server accepts, and the default. */
export function dnsTtlField(range: { min: number; max: number; default: number }) {
  return z.int().min(range.min).max(range.max).default(range.default).describe('TTL written with the record, in seconds.');
}

/**
 * The record must be inside the zone the provider writes to, and a CNAME cannot sit at the apex (the apex always
 * has SOA and NS, which a CNAME may not share a name with). Both names absolute and lower case.
 */
export function recordInZoneIssues(record: string, zone: string, type: DnsRecordType): SiteIssue[] {
  if (zone !== '.' && record !== zone && !record.endsWith(`.${zone}`)) {
    return [{ path: ['record'], message: `${record} is not inside zone ${zone}` }];
  }
  if (type === 'CNAME' && record === zone) return [{ path: ['record'], message: 'a CNAME cannot be at the zone apex' }];
  return [];
}

/** Every site must have a value this record type can hold (an IPv4 address for A, a name for CNAME, ...). */
export function dnsSiteIssues(step: { type: DnsRecordType }, sites: readonly TargetSite[]): SiteIssue[] {
  return sites.flatMap((s) => {
    const { error } = dnsValueFor(step.type, s);
    return error ? [{ path: ['type'], message: `site ${s.name} ${error}` }] : [];
  });
}
