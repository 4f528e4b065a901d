/** Entry point @portal-failover/shared/status: availability rollups for the status page, and drill schedules. */
export * from '../status/availability';
export * from '../drills/schedule';
