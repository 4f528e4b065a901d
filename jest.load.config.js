// Load tests measure how much work gets done in wall-clock time, so they run alone, after the rest of the suite
// (`npm test` runs both): beside other suites on a 2-core machine they would measure the other suites.
const base = require('./jest.config');

/** @type {import('jest').Config} */
module.exports = {
  ...base,
  testMatch: ['<rootDir>/test/load/**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  maxWorkers: 1,
};
