import type { Command } from 'commander';
import { authFor } from '../client';
import { apiGatewayRegion, resolveEndpoint } from '../endpoint';
import { CliError, EXIT } from '../errors';
import { err, out } from './shared';

interface UiOpts {
  endpoint?: string;
  port: string;
}

/**
 * `timebox ui`: the web console on 127.0.0.1 for a deployed API, every call signed with your AWS credentials
 * (cli/ui-server.ts). It prints a one-time sign-in link and runs until Ctrl-C.
 */
export function registerUi(program: Command): void {
  program
    .command('ui')
    .description('the web console on 127.0.0.1 for a deployed API, its calls signed with your AWS credentials')
    .option('--endpoint <url>', 'the API Gateway URL (default: TIMEBOX_ENDPOINT)')
    .option('--port <port>', 'local port (0 picks a free one)', '0')
    .action(async (opts: UiOpts) => {
      const endpoint = resolveEndpoint(opts.endpoint);
      if (!apiGatewayRegion(endpoint) && !process.env.TIMEBOX_AWS_REGION)
        throw new CliError(
          `timebox ui is for a deployed API: ${endpoint.origin} is not an API Gateway URL (set TIMEBOX_AWS_REGION for a custom domain); a local broker serves the console itself (timebox login --local --web)`,
          EXIT.usage,
        );
      if (!/^\d{1,5}$/.test(opts.port) || Number(opts.port) > 65535)
        throw new CliError(`--port: "${opts.port}" is not a port (0-65535)`, EXIT.usage);
      // An API Gateway endpoint is always signed (authFor): a local session token is never sent to it.
      const { startUiServer } = await import('../ui-server.js');
      const ui = await startUiServer({ endpoint, auth: authFor(endpoint), port: Number(opts.port) });
      const link = await ui.signinLink();
      out(`Timebox console for ${endpoint.origin} on ${ui.url} (Ctrl-C stops it)`);
      out(link);
      err('timebox: open the link above within a minute; it works once and signs this browser in');
      await new Promise<void>((done) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          ui.close().then(done, done);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
    });
}
