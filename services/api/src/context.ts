import type { Redis } from 'ioredis';
import { AuditLog, ControlStore, keys, StateStore, type Config, type Metrics } from '@portal-failover/shared';
import type { TokenRegistry } from './auth';
import { StatusModel } from './status-page/status-model';

/** Everything a handler needs, built once per app. */
export interface ApiContext {
  config: Config;
  redis: Redis;
  metrics: Metrics;
  tokens: TokenRegistry;
  store: StateStore;
  control: ControlStore;
  audit: AuditLog;
  /** The public status document, built from Redis and cached briefly. */
  status: StatusModel;
  now: () => number;
}

export function createContext(config: Config, redis: Redis, metrics: Metrics, tokens: TokenRegistry, now: () => number = Date.now): ApiContext {
  const k = keys(config.redis.prefix);
  return {
    config,
    redis,
    metrics,
    tokens,
    store: new StateStore(redis, k),
    control: new ControlStore(redis, k),
    audit: new AuditLog(redis, k.audit, config.audit.retention, now, { maxEntries: config.audit.maxEntries }),
    status: new StatusModel(config, redis, now),
    now,
  };
}
