import type { TestProject } from 'vitest/node';
import { startDynalite } from '../../adapters/aws/dynalite';

/** vitest globalSetup of the integration project: one in-memory dynalite for every file, closed at the end. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const running = await startDynalite();
  project.provide('dynaliteEndpoint', running.endpoint);
  return () => running.close();
}
