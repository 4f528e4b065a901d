export * from './controller';
export * from './lease';
export * from './executor';
export { DrillRunner } from './drills';
