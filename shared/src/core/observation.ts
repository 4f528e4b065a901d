/** Why a probe failed; also the `reason` label of failed-check metrics. */
export type FailureReason =
  | 'timeout'
  | 'refused'
  | 'reset'
  | 'dns'
  | 'tls'
  | 'status'
  | 'content'
  | 'latency'
  | 'redirect'
  | 'body_too_large'
  | 'liveness'
  | 'error';

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
}

/** One check result as it travels from a checker to the controller. */
export interface CheckResult extends ProbeOutcome {
  portal: string;
  site: string;
  check: string;
  vantage: string;
  /** Epoch ms when the probe started. */
  at: number;
  /** The check's interval, so the controller can tell when a vantage went stale. */
  intervalMs: number;
  /**
   * The vantage's own canary (a reference URL that should always answer) failed: this vantage cannot see out,
   * so its failures say nothing about the site. A blind vantage is not a witness either way.
   */
  blind?: boolean;
}
