/** Entry point @portal-failover/shared/audit: the audit log and its hash chain. */
export * from '../audit/audit-log';
export { canonicalJson, sha256Hex, GENESIS, ChainVerifier, type ChainHead } from '../audit/chain';
export * from '../audit/checkpoint';
export * from '../audit/witness';
