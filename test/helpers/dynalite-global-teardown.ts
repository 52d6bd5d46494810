/** jest globalTeardown of the integration project: closes the dynalite dynalite-global.ts started. */
export default async function teardown(): Promise<void> {
  await globalThis.timeboxTestDynalite?.close();
  globalThis.timeboxTestDynalite = undefined;
}
