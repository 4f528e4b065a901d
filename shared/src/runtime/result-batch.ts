import type { CheckResult } from '../core/observation';

/** The BullMQ job name of a batch of check results on the results queue. */
export const RESULT_BATCH_JOB = 'results';

/**
 * The payload of one results-queue job: every result a checker process finished within one flush window. One job
 * per window instead of one per probe keeps the Redis round trips per check far below one at thousands of checks
 * per second; each element keeps exactly the meaning of a single result.
 */
export interface ResultBatch {
  results: CheckResult[];
}

/**
 * The results carried by a results-queue job's data: the elements of a batch, or the job itself when it is a
 * single result (the one-job-per-result format older checkers still send during a rolling upgrade). Elements are
 * returned unvalidated: the consumer parses each one and rejects a malformed one on its own.
 */
export function resultsOf(data: unknown): unknown[] {
  if (typeof data === 'object' && data !== null && 'results' in data) {
    const results: unknown = data.results;
    return Array.isArray(results) ? results : [results];
  }
  return [data];
}
