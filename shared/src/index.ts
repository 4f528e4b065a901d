/**
 * Everything in @portal-failover/shared, for processes that use most of it. A process that needs only a part
 * imports its entry point instead (`@portal-failover/shared/core`, `/config`, `/duration`, ...; see entries/), so it
 * loads only that: the CLI prints --help without loading Redis, BullMQ or the config schema.
 */
export * from './entries/config';
export * from './entries/core';
export * from './entries/checks';
export * from './entries/providers';
export * from './entries/runtime';
export * from './entries/store';
export * from './entries/audit';
export * from './entries/hooks';
export * from './entries/status';
export * from './entries/evidence';
export * from './entries/security';
