/** Entry point @portal-failover/shared/core: the pure decision core (no I/O, no clock). */
export * from '../core/observation';
export * from '../core/health';
export * from '../core/state';
export { CheckResultSchema, FreezeSchema, parsePortalState, parseRecord, PortalStateSchema, type Parsed } from '../core/records';
export * from '../core/classify';
export * from '../core/decide';
export * from '../core/cooldown';
export * from '../core/phase';
export * from '../core/preconditions';
export * from '../core/routing';
export * from '../core/readiness';
export * from '../core/risk-windows';
