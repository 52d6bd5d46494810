import { TimeboxError } from '../core/errors';
import { SessionVerifier } from './auth';
import { brokerUrl, isLoopbackHost, loopbackAliases } from './paths';
import { createLocalRuntime, type LocalRuntime, type LocalRuntimeOptions } from './runtime';
import { createRequestListener, listenHttp, type RunningHttp } from './server';
import { brokerWebConsole } from './web-console';

export interface LocalBrokerOptions
  extends Pick<
    LocalRuntimeOptions,
    | 'out'
    | 'verbose'
    | 'memory'
    | 'durability'
    | 'sweepIntervalMs'
    | 'tokenTtlMs'
    | 'publishers'
    | 'schedulerConcurrency'
  > {
  home: string;
  configFile: string;
  host: string;
  /** 0 picks a free port (tests, benchmarks). */
  port: number;
  /** Binding anything but loopback needs this: bearer tokens would cross the network in plain http. */
  allowRemote?: boolean;
  /**
   * The URL clients use, when it is not http://host:port (a TLS proxy in front, a DNS name): the issuer of gRPC
   * tokens and an accepted audience of session tokens.
   */
  publicUrl?: string;
  /** The built web console served at the root (default: dist/web, found next to the code). */
  webRoot?: string;
}

export interface LocalBroker {
  url: string;
  runtime: LocalRuntime;
  http: RunningHttp;
  close(): Promise<void>;
}

/**
 * The local broker: the runtime behind a node:http server. With port 0 the URL (issuer, token audience) is only
 * known once bound, so the HTTP server is bound first and answers 503 until the runtime is up.
 */
export async function startLocalBroker(opts: LocalBrokerOptions): Promise<LocalBroker> {
  if (!isLoopbackHost(opts.host) && !opts.allowRemote)
    throw new TimeboxError(
      'invalid',
      'LOCAL.REMOTE_NOT_ALLOWED',
      `--host ${opts.host} exposes the broker beyond this machine with bearer tokens over plain http; add --allow-remote if that is what you want`,
    );
  let handler: ReturnType<typeof createRequestListener> | undefined;
  const http = await listenHttp(
    (req, res) => {
      if (handler) return handler(req, res);
      res.writeHead(503, { 'content-type': 'application/json; charset=utf-8', 'retry-after': '1' });
      res.end(JSON.stringify({ error: { code: 'LOCAL.STARTING', message: 'the broker is starting' } }));
    },
    opts.host,
    opts.port,
  );
  const url = (opts.publicUrl ?? brokerUrl(opts.host, http.port)).replace(/\/+$/, '');
  let runtime: LocalRuntime;
  try {
    runtime = await createLocalRuntime({
      home: opts.home,
      configFile: opts.configFile,
      issuer: url,
      ...(opts.out ? { out: opts.out } : {}),
      ...(opts.verbose ? { verbose: true } : {}),
      ...(opts.memory ? { memory: true } : {}),
      ...(opts.durability ? { durability: opts.durability } : {}),
      ...(opts.sweepIntervalMs ? { sweepIntervalMs: opts.sweepIntervalMs } : {}),
      ...(opts.tokenTtlMs ? { tokenTtlMs: opts.tokenTtlMs } : {}),
      ...(opts.publishers ? { publishers: opts.publishers } : {}),
      ...(opts.schedulerConcurrency ? { schedulerConcurrency: opts.schedulerConcurrency } : {}),
    });
  } catch (e) {
    await http.close();
    throw e;
  }
  const audiences = new Set([url, brokerUrl(opts.host, http.port)]);
  if (isLoopbackHost(opts.host)) for (const alias of loopbackAliases(http.port)) audiences.add(alias);
  const verifier = new SessionVerifier({
    key: await runtime.signer.verifyKey(),
    audiences: [...audiences],
    now: () => new Date(),
  });
  const publicHost = new URL(url).hostname;
  // Calls in flight, so that closing waits for them before the store closes under them.
  let inFlight = 0;
  let drained: (() => void) | undefined;
  let stopping = false;
  const api: typeof runtime.api = async (req) => {
    if (stopping)
      return {
        status: 503,
        headers: { 'content-type': 'application/json; charset=utf-8', 'retry-after': '1', connection: 'close' },
        body: JSON.stringify({ error: { code: 'LOCAL.STOPPING', message: 'the broker is stopping' } }),
      };
    inFlight++;
    try {
      return await runtime.api(req);
    } finally {
      if (--inFlight === 0) drained?.();
    }
  };
  handler = createRequestListener({
    api,
    verifier,
    log: runtime.log,
    intercept: (req, res) => runtime.revocationPush.handle(req, res),
    web: await brokerWebConsole({ root: opts.webRoot, signer: runtime.signer, url, audiences: [...audiences] }),
    // With --allow-remote the names clients use cannot be known here; on loopback they can.
    ...(opts.allowRemote ? {} : { allowedHost: (h: string) => isLoopbackHost(h) || h === publicHost }),
  });
  return {
    url,
    runtime,
    http,
    /**
     * Stops taking connections, waits for the calls in flight (each already bounded by the HTTP server's request
     * timeout) and only then stops the timers and closes the store: a request answered is a request recorded.
     */
    async close() {
      stopping = true;
      // Held long polls are answered first, so they do not hold the server's close.
      runtime.revocationPush.close();
      const closing = http.close();
      if (inFlight > 0) await new Promise<void>((resolve) => (drained = resolve));
      await closing;
      await runtime.close();
    },
  };
}

/** What `serve` prints once the broker is up: where it is, what it runs, and how to get in. */
export function banner(
  b: LocalBroker,
  opts: { configFile: string; home: string; exampleConfig: boolean; login?: string },
): string {
  const { runtime } = b;
  const policy = runtime.policy().policy;
  const lines = [
    `Timebox local broker on ${b.url}`,
    `  config    ${opts.configFile}${opts.exampleConfig ? ' (the shipped example; --config <file> for your own)' : ''}`,
    `            ${Object.keys(policy.targets).length} targets, ${policy.rules.length} rules, ${Object.keys(policy.groups).length} groups`,
    `  data      ${opts.home} (grants and audit survive restarts)`,
    `  keys      ${b.url}/.well-known/jwks.json, revocations ${b.url}/.well-known/timebox/revocations.json`,
    `  sweeper   every ${Math.round(runtime.sweeper.intervalMs / 1000)} s; re-armed ${runtime.rearmed.expire} expiries, ${runtime.rearmed.activate} activations`,
    '',
    'Get a token (works without the broker running; it reads the key in the data directory):',
    `  ${opts.login ?? 'npx timebox login --local --as alice@corp.com'}`,
    'then, for example:',
    '  npx timebox request user-service --for 30m --reason "trying Timebox"',
    `Web console at ${b.url}/, signed in with a one-time link:`,
    `  ${opts.login ?? 'npx timebox login --local --as alice@corp.com'} --mfa --web`,
    '',
  ];
  if (!isLoopbackHost(b.http.host))
    lines.unshift(
      `WARNING: listening on ${b.http.host}: bearer tokens travel in plain http. Put a TLS proxy in front (the CLI refuses plain http to a non-loopback host).`,
    );
  return lines.join('\n');
}
