// Tests run against the TypeScript sources (not dist/), so `npx jest` works before or without `tsc -b`.
const workspaceSources = {
  '^@portal-failover/shared$': '<rootDir>/shared/src/index.ts',
  '^@portal-failover/shared/(.+)$': '<rootDir>/shared/src/entries/$1.ts',
  '^@portal-failover/checker$': '<rootDir>/services/checker/src/index.ts',
  '^@portal-failover/controller$': '<rootDir>/services/controller/src/index.ts',
  '^@portal-failover/api$': '<rootDir>/services/api/src/index.ts',
  '^@portal-failover/api/(.+)$': '<rootDir>/services/api/src/$1.ts',
};

/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  testMatch: ['<rootDir>/{shared,services,cli,test}/**/*.test.ts'],
  // test/load runs alone after the rest (jest.load.config.js, `npm run test:load`).
  testPathIgnorePatterns: ['/node_modules/', '/dist/', '<rootDir>/test/load/'],
  // Compiled copies in dist/ would otherwise collide with the sources in jest's module map.
  modulePathIgnorePatterns: ['<rootDir>/.*/dist/'],
  transform: {
    // tsconfig.test.json turns off composite/isolatedModules from the base so ts-jest type-checks tests too
    // (tsc -b does not cover test files) and knows the jest globals.
    '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.test.json' }],
  },
  moduleNameMapper: workspaceSources,
  globalSetup: '<rootDir>/test/global-setup.ts',
  globalTeardown: '<rootDir>/test/global-teardown.ts',
  // Tests start real servers and wait for DNS/health-check timings measured in seconds.
  testTimeout: 60000,
  maxWorkers: 2,
};
