import { resolve } from 'node:path';
import type { Command } from 'commander';
import { examplePolicyPath, resolveHome } from '../../local/paths';
import { removeBrokerRecord, writeBrokerRecord } from '../endpoint';
import { CliError } from '../errors';
import { durationFlag } from './shared';

interface ServeOpts {
  config?: string;
  host: string;
  port?: string;
  home?: string;
  allowRemote?: boolean;
  publicUrl?: string;
  sweepInterval: string;
  tokenTtl: string;
  durability: string;
  verbose?: boolean;
}

/** `--port`, else PORT, else 8787. */
export function servePort(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): number {
  const raw = flag ?? env.PORT ?? '8787';
  const from = flag === undefined ? (env.PORT === undefined ? 'the default' : 'PORT') : '--port';
  if (!/^\d{1,5}$/.test(raw) || Number(raw) > 65535) throw new CliError(`${from}: "${raw}" is not a port (0-65535)`);
  return Number(raw);
}

/**
 * `timebox serve` (`npm start`): the local broker in the foreground until Ctrl-C. Everything it needs (SQLite,
 * the HTTP server, the runtime) is loaded only here, so every other command starts without it.
 */
export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the local broker (what npm start runs): the API on http://127.0.0.1:8787, state in ./.timebox')
    .option('-c, --config <file>', 'access policy file (default: the shipped access.example.yaml)')
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port (default: PORT, then 8787; 0 picks a free one)')
    .option('--home <dir>', 'data directory: signing key, grants and audit (default: TIMEBOX_HOME, then ./.timebox)')
    .option('--allow-remote', 'allow --host beyond loopback (bearer tokens then travel in plain http)')
    .option('--public-url <url>', 'the URL clients use when it is not http://<host>:<port> (a TLS proxy in front)')
    .option('--sweep-interval <duration>', 'how often the sweeper runs', '15s')
    .option('--token-ttl <duration>', 'lifetime of each gRPC token (never beyond its grant)', '5m')
    .option(
      '--durability <mode>',
      'normal: a change survives the broker being killed; full: also a power loss (fsync per change, slower)',
      'normal',
    )
    .option('--verbose', 'log every API call')
    .action(async (opts: ServeOpts) => {
      const port = servePort(opts.port);
      const sweepIntervalMs = durationFlag('--sweep-interval', opts.sweepInterval).ms;
      const tokenTtlMs = durationFlag('--token-ttl', opts.tokenTtl).ms;
      if (opts.durability !== 'normal' && opts.durability !== 'full')
        throw new CliError(`--durability: "${opts.durability}" is not normal or full`);
      const durability = opts.durability;
      if (opts.publicUrl !== undefined && !/^https?:\/\/[^/]+\/?$/.test(opts.publicUrl))
        throw new CliError(
          `--public-url: "${opts.publicUrl}" is not an http(s) origin such as https://timebox.corp.example`,
        );
      // Loaded here only: the store, the server and the AWS SDK stay out of every other command's start-up.
      // The one relative import with an extension: a dynamic import() is resolved by Node's ESM rules, which want it.
      const { banner, startLocalBroker } = await import('../../local/broker.js');
      const home = opts.home ? resolve(opts.home) : resolveHome();
      const example = examplePolicyPath();
      const configFile = opts.config ? resolve(opts.config) : example;
      if (!configFile)
        throw new CliError('--config: no policy file given and the shipped access.example.yaml is not next to the CLI');
      const broker = await startLocalBroker({
        home,
        configFile,
        host: opts.host,
        port,
        ...(opts.allowRemote ? { allowRemote: true } : {}),
        ...(opts.publicUrl ? { publicUrl: opts.publicUrl } : {}),
        sweepIntervalMs,
        tokenTtlMs,
        durability,
        ...(opts.verbose ? { verbose: true } : {}),
        out: process.stdout,
      }).catch((e: unknown) => {
        throw new CliError((e as Error).message);
      });
      // Slack and webhook notices, when configured in the environment (docs/notifications.md, "Local mode").
      const { attachLocalNotifications } = await import('../../adapters/notify/local.js');
      let notifications: ReturnType<typeof attachLocalNotifications>;
      try {
        notifications = attachLocalNotifications(broker.runtime, process.env);
      } catch (e) {
        await broker.close();
        throw new CliError((e as Error).message);
      }
      const login = announce(broker.url, home);
      process.stdout.write(`${banner(broker, { configFile, home, exampleConfig: !opts.config, login })}\n`);
      if (notifications) process.stdout.write('notifications: on (Slack/webhooks from the environment)\n');
      await new Promise<void>((done) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          notifications?.stop();
          removeBrokerRecord(home, process.pid);
          process.stdout.write('stopping the broker\n');
          broker.close().then(done, (e: unknown) => {
            process.stderr.write(`timebox: ${(e as Error).message}\n`);
            done();
          });
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
    });
}

/**
 * Records where this broker runs (broker.json in its data directory and in the CLI's directory, owner-only), so that
 * every CLI command finds it, whatever PORT or TIMEBOX_HOME it was started with (cli/endpoint.ts, locateBroker).
 * Returns the login command to print: one that works as printed from another shell. Should the CLI's directory not
 * be writable, the command names the data directory itself.
 */
export function announce(url: string, home: string, env: NodeJS.ProcessEnv = process.env): string {
  const login = 'npx timebox login --local --as alice@corp.com';
  try {
    writeBrokerRecord({ url, pid: process.pid, home, startedAt: new Date().toISOString() }, env);
    return login;
  } catch (e) {
    process.stderr.write(
      `timebox: cannot record this broker for the CLI (${(e as Error).message}); commands must be told where it is\n`,
    );
    return `export TIMEBOX_HOME=${shellQuote(home)} TIMEBOX_ENDPOINT=${shellQuote(url)}; ${login}`;
  }
}

/** A word for a POSIX shell: as is when it is plainly safe, else in single quotes. */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, "'\\''")}'`;
}
