import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import type { LocalTokenSigner } from '../../adapters/local/signer';
import { formatDuration } from '../../core/duration';
import { isTimeboxError } from '../../core/errors';
import type { mintSessionToken } from '../../local/auth';
import { DEFAULT_SESSION_TTL_MS, MAX_SESSION_TTL_MS, signingKeyPath } from '../../local/paths';
import {
  type LocatedBroker,
  locateBroker,
  readRecordFile,
  resolveEndpoint,
  saveToken,
  userRecordPath,
} from '../endpoint';
import { CliError } from '../errors';
import type { LoginWebOpts } from './login-web';
import { collect, durationFlag, out, printJson, run } from './shared';

interface LoginOpts extends LoginWebOpts {
  local?: boolean;
  web?: boolean;
}

/**
 * `timebox login --local`: mints a session token with the local broker's key, read from its data directory (so the
 * broker need not be running), for the endpoint's URL as audience, and saves it for that endpoint (mode 0600), or with
 * `--print` writes it to stdout instead. The broker is found as every command finds it (cli/endpoint.ts,
 * locateBroker). Login never creates a key: a key made here would sign tokens no broker accepts. Whoever can
 * read the key file can be anyone locally: that is what local mode is, a single-user trial. Deployments have no
 * login: the CLI signs with AWS credentials (SigV4).
 */
export function registerLogin(program: Command): void {
  program
    .command('login')
    .description('get a session token for a local broker (deployments use your AWS credentials instead)')
    .option('--local', 'sign the token with the local broker key in TIMEBOX_HOME (the only kind of login)')
    .requiredOption('--as <principal>', 'who you are, e.g. alice@corp.com')
    .option('--mfa', 'the session counts as MFA (rules and approvals that require MFA)')
    .option('--group <name>', 'a group your identity provider would assert (repeatable)', collect, [])
    .option(
      '--ttl <duration>',
      `how long the login lasts (default ${formatDuration(DEFAULT_SESSION_TTL_MS)}, at most ${formatDuration(MAX_SESSION_TTL_MS)})`,
    )
    .option('--print', 'print the token on stdout instead of saving it (TIMEBOX_TOKEN=$(timebox login ... --print))')
    .option(
      '--home <dir>',
      'the broker data directory (default: TIMEBOX_HOME, then a broker running from ./.timebox, then the broker last started)',
    )
    .option(
      '--endpoint <url>',
      'broker URL the token is for (default: TIMEBOX_ENDPOINT, then the URL of the broker running from the data directory)',
    )
    .option('--json', 'print one JSON document on stdout')
    .option('--web', 'a one-time sign-in link to the web console instead of a token (opened, or printed with --print)')
    .action(async (opts: LoginOpts) =>
      run(opts, async () => {
        if (!opts.local)
          throw new CliError(
            'login needs --local: only a local broker has logins; against a deployment the CLI signs each call with your AWS credentials (SigV4)',
          );
        if (opts.web) return (await import('./login-web.js')).loginWeb(opts);
        const ttlMs = opts.ttl === undefined ? DEFAULT_SESSION_TTL_MS : durationFlag('--ttl', opts.ttl).ms;
        const located = locateBroker(opts.home === undefined ? {} : { home: opts.home });
        const endpoint = resolveEndpoint(
          opts.endpoint,
          process.env,
          opts.home === undefined ? {} : { home: opts.home },
        );
        const keyFile = signingKeyPath(located.home);
        if (!existsSync(keyFile)) throw new CliError(noKeyMessage(keyFile, located));
        // Loaded only here: jose and the key code stay out of every other command's start-up.
        const { LocalTokenSigner } = await import('../../adapters/local/signer.js');
        const { mintSessionToken } = await import('../../local/auth.js');
        let signer: LocalTokenSigner;
        try {
          signer = await LocalTokenSigner.fromFile(keyFile);
        } catch (e) {
          throw new CliError(isTimeboxError(e) ? e.message : `cannot read ${keyFile}: ${(e as Error).message}`);
        }
        let minted: Awaited<ReturnType<typeof mintSessionToken>>;
        try {
          minted = await mintSessionToken(signer, {
            who: { id: opts.as, groups: opts.group, mfa: opts.mfa === true },
            audience: endpoint.origin,
            ttlMs,
            now: new Date(),
          });
        } catch (e) {
          if (!isTimeboxError(e)) throw e;
          const flag = e.code === 'LOGIN.INVALID_GROUP' ? '--group' : e.code === 'LOGIN.INVALID_TTL' ? '--ttl' : '--as';
          throw new CliError(`${flag}: ${e.message}`);
        }
        // --print leaves the saved login alone, so one shell can hold several identities in TIMEBOX_TOKEN.
        const file = opts.print ? undefined : saveToken(endpoint, minted.token);
        const summary = {
          endpoint: endpoint.origin,
          principal: opts.as.trim().toLowerCase(),
          groups: [...new Set(opts.group)].sort(),
          mfa: opts.mfa === true,
          expiresAt: minted.expiresAt.toISOString(),
          ...(file ? { tokenFile: file } : {}),
        };
        if (opts.json) return printJson({ ...summary, ...(opts.print ? { token: minted.token } : {}) });
        if (opts.print) {
          out(minted.token);
          return;
        }
        out(
          `logged in to ${summary.endpoint} as ${summary.principal}${summary.mfa ? ' (MFA)' : ''}${summary.groups.length ? `, groups ${summary.groups.join(', ')}` : ''}, until ${summary.expiresAt}; token saved in ${file}`,
        );
      }),
    );
}

/** Why there is no key to sign with, where the broker's key is if one runs, and how to point at it. */
function noKeyMessage(keyFile: string, located: LocatedBroker): string {
  const from =
    located.from === 'default' || located.from === 'working directory'
      ? 'the working directory'
      : located.from === 'last started broker'
        ? 'the broker started last'
        : located.from;
  const last = readRecordFile(userRecordPath());
  const running =
    last && last.home !== located.home
      ? `; the broker at ${last.url} keeps its key in ${last.home}: log in with --home ${last.home} (or TIMEBOX_HOME=${last.home})`
      : '; start the broker first (npm start, or timebox serve --home <dir>), or point at its data directory with --home <dir> or TIMEBOX_HOME';
  return `no signing key at ${keyFile} (data directory from ${from}); login signs with the broker's own key and never creates one${running}`;
}
