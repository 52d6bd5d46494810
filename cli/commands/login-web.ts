import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { isTimeboxError } from '../../core/errors';
import { resolveHome, signingKeyPath } from '../../local/paths';
import { resolveEndpoint } from '../endpoint';
import { CliError } from '../errors';
import { err, out, printJson } from './shared';

export interface LoginWebOpts {
  as: string;
  mfa?: boolean;
  group: string[];
  print?: boolean;
  ttl?: string;
  home?: string;
  endpoint?: string;
  json?: boolean;
}

/**
 * `timebox login --local --web`: a one-time sign-in link to the broker's web console for this person, signed with the
 * broker's key (read from TIMEBOX_HOME, as for session tokens). The code rides in the URL fragment, works once and
 * expires in a minute; the page trades it for a session cookie at once and removes it from the address bar.
 * `--print` writes the link on stdout; otherwise it is opened in the browser when one can be started, else printed.
 */
export async function loginWeb(opts: LoginWebOpts): Promise<void> {
  if (opts.ttl !== undefined)
    throw new CliError('--ttl: a web sign-in lasts a working day (8h); --ttl is for bearer tokens');
  const endpoint = resolveEndpoint(opts.endpoint);
  const home = opts.home ?? resolveHome();
  const keyFile = signingKeyPath(home);
  if (!existsSync(keyFile))
    throw new CliError(
      `no signing key at ${keyFile}: start the broker first (npm start) with the same TIMEBOX_HOME (${home})`,
    );
  // Loaded only here: jose and the key code stay out of every other command's start-up.
  const { LocalTokenSigner } = await import('../../adapters/local/signer.js');
  const { mintSigninCode, signinUrl } = await import('../../local/web-signin.js');
  let minted: Awaited<ReturnType<typeof mintSigninCode>>;
  try {
    const signer = await LocalTokenSigner.fromFile(keyFile);
    minted = await mintSigninCode(signer, {
      who: { id: opts.as, groups: opts.group, mfa: opts.mfa === true },
      audience: endpoint.origin,
      now: new Date(),
    });
  } catch (e) {
    if (!isTimeboxError(e)) throw new CliError(`cannot read ${keyFile}: ${(e as Error).message}`);
    const flag = e.code === 'LOGIN.INVALID_GROUP' ? '--group' : e.code.startsWith('LOGIN.') ? '--as' : '--home';
    throw new CliError(`${flag}: ${e.message}`);
  }
  const url = signinUrl(endpoint.origin, minted.code);
  if (opts.json) return printJson({ url, expiresAt: minted.expiresAt.toISOString() });
  if (opts.print || !(await openBrowser(url))) {
    out(url);
    if (!opts.print) err('timebox: open this link in your browser within a minute; it works once');
    return;
  }
  err(`timebox: opened the console in your browser as ${opts.as.trim().toLowerCase()} (the link works once)`);
}

/** Starts the desktop's URL opener; false when there is none (a server, a container). */
async function openBrowser(url: string): Promise<boolean> {
  const [cmd, ...args] =
    process.platform === 'darwin'
      ? ['open', url]
      : process.platform === 'win32'
        ? ['rundll32', 'url.dll,FileProtocolHandler', url]
        : ['xdg-open', url];
  if (process.platform === 'linux' && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY) return false;
  return new Promise<boolean>((resolve) => {
    const child = spawn(cmd as string, args, { stdio: 'ignore', detached: true });
    child.once('error', () => resolve(false));
    child.once('spawn', () => {
      child.unref();
      resolve(true);
    });
  });
}
