export * from './controller';
export * from './lease';
export * from './executor';
