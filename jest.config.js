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
    // tsconfig.test.json maps the workspaces to their sources and knows the jest globals. With isolatedModules
    // ts-jest compiles each file alone and reports no type errors: `npm test` type-checks the tests first
    // (`npm run typecheck:tests`), once, which is far cheaper than a type check per test file.
    '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.test.json' }],
  },
  moduleNameMapper: workspaceSources,
  globalSetup: '<rootDir>/test/global-setup.ts',
  globalTeardown: '<rootDir>/test/global-teardown.ts',
  // Tests start real servers and wait for DNS/health-check timings measured in seconds.
  testTimeout: 60000,
  maxWorkers: 2,
};
