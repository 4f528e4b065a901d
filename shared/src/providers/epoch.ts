/**
 * The epoch record both fenced DNS providers (Route 53, RFC 2136) keep beside the record they switch: a TXT
 * `_pf-epoch.<record>` holding the fencing token of the last leader that wrote, so the provider itself can refuse
 * a write from a leader older than that one.
 */

export const EPOCH_PREFIX = '_pf-epoch.';
/** TTL of the epoch TXT record; nobody resolves it, it only has to exist. */
export const EPOCH_TTL = 60;

export function epochRecordName(record: string): string {
  return `${EPOCH_PREFIX}${record}`;
}

/**
 * The token a fencing token's text carries, or undefined when it is not one of ours. Tokens are floored by the
 * clock in microseconds (lease.ts): 16 digits today. Reading them as "not ours" would let the pre-send check pass
 * for any stale leader.
 */
export function tokenOfText(text: string): number | undefined {
  const m = /^(\d{1,16})$/.exec(text);
  const token = m ? Number(m[1]) : undefined;
  return token !== undefined && Number.isSafeInteger(token) ? token : undefined;
}
