/** Entry point @portal-failover/shared/evidence: captured failing responses, probe history and evidence bundles. */
export * from '../evidence/capture-store';
export * from '../evidence/probe-history';
export * from '../evidence/verify-bundle';
