import type { Redis } from 'ioredis';
import { AuditLog, ControlStore, keys, reportInvalidRecords, RiskWindowStore, StateStore, type Config, type Metrics } from '@portal-failover/shared';
import type { TokenRegistry } from './auth';
import { RepeatAudit } from './repeat-audit';
import { StatusModel } from './status-page/status-model';

/** Everything a handler needs, built once per app. */
export interface ApiContext {
  config: Config;
  redis: Redis;
  metrics: Metrics;
  tokens: TokenRegistry;
  store: StateStore;
  control: ControlStore;
  /** Risk windows announced through the API (config windows are in `config`). */
  riskWindows: RiskWindowStore;
  audit: AuditLog;
  /** Refusals and blocked alerts: identical ones within api.repeatWindow become one entry with a count. */
  repeats: RepeatAudit;
  /** The public status document, built from Redis and cached briefly. */
  status: StatusModel;
  now: () => number;
}

export function createContext(config: Config, redis: Redis, metrics: Metrics, tokens: TokenRegistry, now: () => number = Date.now, onAuditError: (e: Error) => void = () => undefined): ApiContext {
  const k = keys(config.redis.prefix);
  const audit = new AuditLog(redis, k.audit, config.audit.retention, now, { maxEntries: config.audit.maxEntries });
  return {
    config,
    redis,
    metrics,
    tokens,
    store: new StateStore(redis, k, reportInvalidRecords(metrics)),
    control: new ControlStore(redis, k, reportInvalidRecords(metrics)),
    riskWindows: new RiskWindowStore(redis, k, reportInvalidRecords(metrics)),
    audit,
    repeats: new RepeatAudit(audit, config.api.repeatWindow, onAuditError, now),
    status: new StatusModel(config, redis, now),
    now,
  };
}
