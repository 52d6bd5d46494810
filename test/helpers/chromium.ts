import { type Browser, chromium } from 'playwright-core';

/** Debian's Chromium: playwright's own browser download cannot run here. */
export const CHROMIUM = '/usr/bin/chromium';

/**
 * Headless Chromium as the browser tests run it. The background-networking flags matter: without them Chromium's own
 * connections are refused by a closed network, many at a time.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
