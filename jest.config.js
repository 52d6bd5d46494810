// @ts-check
/**
 * Three projects: `unit` (pure and in-process), `stacks` (Pulumi programs under mocks) and `integration` (sockets,
 * child processes, the shared dynalite). `npx jest --selectProjects unit` runs one; `npx jest test/unit/x.test.ts`
 * one file.
 *
 * TypeScript goes through @swc/jest: a per-file transform, no type check (that is `npm run typecheck`), to
 * CommonJS like the rest of the code (`module: nodenext` without `"type": "module"`). jose 6 ships only ES
 * modules; rather than jest's ESM mode (still behind --experimental-vm-modules, and it would run every test file
 * as ESM, unlike the code it tests), the same transform compiles node_modules/jose to CommonJS, once, cached.
 * gaxios (under google-auth-library) loads node-fetch 3, also ESM only, with an import() that jest's CommonJS
 * runtime refuses: it is compiled too, so that import() becomes a require, with node-fetch and its ESM deps.
 * Every other dependency the tests load has a CommonJS entry (fast-check, zod, yaml, @cloud-copilot/*,
 * @cedar-policy/cedar-wasm/nodejs).
 */

/** ESM-only packages (and gaxios, for its import() of one) that the transform compiles to CommonJS. */
const ESM_ONLY = ['jose', 'gaxios', 'node-fetch', 'fetch-blob', 'formdata-polyfill', 'data-uri-to-buffer'];

/** @type {import('@swc/core').Options} */
const swc = {
  jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
  module: { type: 'commonjs' },
  sourceMaps: 'inline',
};

/** @type {import('jest').Config} */
const common = {
  testEnvironment: 'node',
  // Globals a file left behind (nock's interceptors) are not swept between files, as before the move to jest.
  testEnvironmentOptions: { globalsCleanup: 'off' },
  injectGlobals: false,
  transform: {
    '^.+\\.ts$': ['@swc/jest', swc],
    '^.+\\.m?js$': ['@swc/jest', { ...swc, jsc: { ...swc.jsc, parser: { syntax: 'ecmascript' } } }],
  },
  transformIgnorePatterns: [`/node_modules/(?!(${ESM_ONLY.join('|')})/)`],
  // Sources import each other as `./x.js` (nodenext); the file on disk is x.ts.
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  setupFiles: ['<rootDir>/test/helpers/jest-env.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
};

/** @type {import('jest').Config} */
module.exports = {
  // Two cores: one worker per core; a worker that grew past the limit is replaced between files.
  maxWorkers: 2,
  workerIdleMemoryLimit: '1GB',
  projects: [
    {
      ...common,
      displayName: 'unit',
      testMatch: ['<rootDir>/test/unit/**/*.test.ts'],
      testPathIgnorePatterns: [...common.testPathIgnorePatterns, '\\.integration\\.test\\.ts$'],
    },
    {
      ...common,
      displayName: 'stacks',
      testMatch: ['<rootDir>/test/stacks/**/*.test.ts'],
    },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/**/*.integration.test.ts'],
      globalSetup: '<rootDir>/test/helpers/dynalite-global.ts',
      globalTeardown: '<rootDir>/test/helpers/dynalite-global-teardown.ts',
      setupFilesAfterEnv: ['<rootDir>/test/helpers/jest-integration.ts'],
    },
  ],
};
