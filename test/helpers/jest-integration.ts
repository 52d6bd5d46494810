import { jest } from '@jest/globals';

// Integration tests start servers, child processes and the bundles: a minute per test and per hook.
jest.setTimeout(60_000);
