export * from './all-in-one';
export * from './demo/sim-site';
