/** Entry point @portal-failover/shared/store: stored records (operations, state, control records) and drills' store. */
export * from '../store/operation';
export * from '../store/state-store';
export * from '../store/control';
export * from '../drills/drill-store';
export * from '../store/records';
export * from '../store/risk-window-store';
