/** Entry point @portal-failover/shared/liveness: sign and verify liveness tokens, read the key; loads nothing else. */
export * from '../checks/liveness';
export * from '../config/secret';
export * from '../config/duration';
