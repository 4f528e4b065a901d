/** Entry point @portal-failover/shared/checks: probes (http, tcp, tls) and the liveness token. */
export * from '../checks/probe';
export { seenResponse } from '../checks/http.check';
export * from '../checks/liveness';
export { spkiSha256, parsePin, tlsSummary } from '../checks/tls-identity';
export type { VersionSource } from '../checks/content-version';
