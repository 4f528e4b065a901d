/** Entry point @portal-failover/shared/hooks: pre- and post-switch hooks. */
export * from '../hooks/hooks';
