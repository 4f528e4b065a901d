import type { ReportInvalidRecord } from '../store/records';
import type { Metrics } from './metrics';

/**
 * Reports a stored record that did not parse: counted in failover_records_invalid_total{record} and, where the
 * process has a logger, logged with its key and the first bad field (never its content, which may hold anything).
 */
export function reportInvalidRecords(metrics: Pick<Metrics, 'recordsInvalid'>, warn?: (key: string, message: string) => void): ReportInvalidRecord {
  return (r) => {
    metrics.recordsInvalid.inc({ record: r.record });
    warn?.(`invalid-record:${r.key}`, `ignoring stored ${r.record} record ${r.key} that does not parse (${r.error}); it is read as absent`);
  };
}
