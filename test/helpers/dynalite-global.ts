import { type RunningDynalite, startDynalite } from './dynalite-server';

/** The environment variable that hands the shared dynalite's endpoint to the test files (see dynalite.ts). */
export const DYNALITE_ENDPOINT_ENV = 'TIMEBOX_TEST_DYNALITE_ENDPOINT';

declare global {
  var timeboxTestDynalite: RunningDynalite | undefined;
}

/**
 * jest globalSetup of the integration project: one in-memory dynalite for every file, its endpoint passed down
 * through the environment (the workers start after this and inherit it); dynalite-global-teardown.ts closes it.
 */
export default async function setup(): Promise<void> {
  const running = await startDynalite();
  globalThis.timeboxTestDynalite = running;
  process.env[DYNALITE_ENDPOINT_ENV] = running.endpoint;
}
