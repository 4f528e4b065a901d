/** Entry point @portal-failover/shared/duration: duration text ("10s") to milliseconds; loads nothing else. */
export * from '../config/duration';
