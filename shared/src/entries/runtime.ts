/** Entry point @portal-failover/shared/runtime: logger, Redis, keys, metrics and the service bootstrap. */
export * from '../runtime/logger';
export * from '../runtime/redis';
export * from '../runtime/keys';
export * from '../runtime/metrics';
export * from '../runtime/metrics-zero';
export * from '../runtime/service';
export * from '../runtime/heap-growth';
export * from '../runtime/queue-metrics';
export * from '../runtime/redis-health';
export * from '../runtime/invalid-records';
export * from '../runtime/result-batch';
export * from '../runtime/lanes';
