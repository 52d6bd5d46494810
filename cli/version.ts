import { version } from '../package.json';

/** The package version, printed by `timebox --version` and sent in the CLI's user agent. */
export const CLI_VERSION: string = version;
