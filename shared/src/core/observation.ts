import type { z } from 'zod';
import type { CheckResultSchema, FailureReasonSchema } from './records';

/** Why a probe failed; also the `reason` label of failed-check metrics. */
export type FailureReason = z.output<typeof FailureReasonSchema>;

/** The outcome of one probe, before it is labelled with where it ran. */
export interface ProbeOutcome {
  ok: boolean;
  durationMs: number;
  reason?: FailureReason;
  /** One human sentence, never a secret (URLs have credentials stripped). */
  detail?: string;
  status?: number;
  /** Epoch ms when the server's TLS certificate expires, when the probe saw one (failover_tls_cert_expiry_timestamp_seconds). */
  certExpiresAt?: number;
  /** Something to fix that is no reason to move traffic (a certificate close to expiry); logged, never a failure. */
  warning?: string;
  /** Content version the probe read (a header or a JSON pointer), for readiness `sameVersionAs`. */
  version?: string;
  /** What a failed HTTP probe was answered, when asked for (ProbeOptions.keepResponse): evidence, never a result field. */
  response?: SeenResponse;
}

/** A response as evidence of a cut keeps it: what was served, not a judgement of it. */
export interface SeenResponse {
  status?: number;
  headers?: Record<string, string | string[]>;
  /** The first `maxBodyBytes` of the body, as UTF-8 text (invalid sequences replaced). */
  body?: string;
  bodyBytes?: number;
  truncated?: boolean;
  tls?: { subject?: string; issuer?: string; validFrom?: string; validTo?: string; fingerprint256?: string; authorized: boolean; authorizationError?: string };
  error?: string;
}

/** One check result as it travels from a checker to the controller (records.ts: parsed when taken from the queue). */
export type CheckResult = z.output<typeof CheckResultSchema>;
