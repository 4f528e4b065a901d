export * from './app';
export * from './server';
export { createToken, hashToken, ROLES, type Role, type TokenRecord } from './auth';
export * as ApiSchemas from './schemas';
export { StatusModel, type PublicStatus } from './status-page/status-model';
export { exportStatusPage } from './status-page/export';
