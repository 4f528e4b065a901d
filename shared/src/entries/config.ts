/** Entry point @portal-failover/shared/config: the config schema, loading and its field helpers. */
export * from '../config/duration';
export * from '../config/secret';
export * from '../config/fields';
export * from '../config/schema';
export * from '../config/lease-budget';
export * from '../config/vantages';
export * from '../config/load';
export * from '../config/portal-model';
export * from '../config/json-schema';
export * from '../config/transparency';
export * from '../config/redis-schema';
export * from '../config/risk-window-fields';
export * from '../config/metrics-budget';
