/** Entry point @portal-failover/shared/paths: default file locations; loads nothing else. */
export * from '../config/paths';
