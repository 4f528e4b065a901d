export * from './checker';
export * from './shard-plan';
