import { CheckResultSchema, parseRecord, type CheckResult } from '@portal-failover/shared';

/**
 * Queue payloads come from other processes (maybe other versions): accept only well-formed results (records.ts).
 * Fields the schema does not name are kept: the signature covers every field, so admission must see them all.
 */
const QueuedResult = CheckResultSchema.loose();

export function parseCheckResult(data: unknown): (CheckResult & { sig?: unknown }) | string {
  const r = parseRecord(QueuedResult, data);
  return r.ok ? r.value : r.error;
}
