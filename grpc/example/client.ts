import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { authFor } from '../../cli/client';
import { resolveEndpoint } from '../../cli/endpoint';
import { brokerTokenFetcher, callCredentials, type TokenSource, tokenSource } from '../client';
import { callMethod, EXAMPLE_METHODS } from './service';

/**
 * Calls one method of the example service with a Timebox token:
 *   tsx grpc/example/client.ts --method /acme.user.v1.UserService/ListUsers --grant tb-...
 *   tsx grpc/example/client.ts --method /acme.user.v1.UserService/GetUser --request '{"id":"u-1"}' --token <jwt>
 * With --grant, tokens come from the broker (and are refreshed before they expire), found and authenticated as the
 * timebox CLI does it: the broker is --broker, else TIMEBOX_ENDPOINT, else the local broker the CLI finds; the
 * caller is TIMEBOX_TOKEN, else the login `timebox login --local` saved (--bearer overrides both).
 * A fixed token may also come from TIMEBOX_GRPC_TOKEN.
 */
const USAGE = `usage: client --method PATH [--request JSON] [--address 127.0.0.1:50051]
              (--grant ID [--broker URL] [--bearer TOKEN] | --token JWT)
methods: ${EXAMPLE_METHODS.join(' ')}`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      address: { type: 'string', default: '127.0.0.1:50051' },
      method: { type: 'string' },
      request: { type: 'string', default: '{"id":"u-1"}' },
      token: { type: 'string' },
      broker: { type: 'string' },
      grant: { type: 'string' },
      bearer: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  if (!values.method) {
    console.error(`--method is required\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  let request: object;
  try {
    const parsed: unknown = JSON.parse(values.request);
    if (typeof parsed !== 'object' || parsed === null) throw new Error('not an object');
    request = parsed;
  } catch {
    console.error(`--request is not a JSON object: ${values.request}`);
    process.exitCode = 2;
    return;
  }

  let source: TokenSource | undefined;
  const fixed = values.token ?? process.env.TIMEBOX_GRPC_TOKEN;
  if (fixed) {
    // A fixed token never refreshes; the far expiry only stops the source from asking for another.
    source = tokenSource({ fetchToken: async () => ({ token: fixed, expiresAt: '9999-12-31T23:59:59Z' }) });
  } else if (values.grant) {
    let authHeaders: () => Promise<Record<string, string>>;
    let endpoint: URL;
    try {
      endpoint = resolveEndpoint(values.broker);
      const bearer = values.bearer;
      const auth = authFor(endpoint);
      const url = new URL(`${endpoint.href.replace(/\/+$/, '')}/v1/grants/${values.grant}/credentials`);
      authHeaders = bearer
        ? async () => ({ authorization: `Bearer ${bearer}` })
        : () => auth({ method: 'POST', url, body: '{}', headers: { 'content-type': 'application/json' } });
      // Once before the first call: "not logged in" is a usage error here, not a failed gRPC call later.
      await authHeaders();
    } catch (e) {
      console.error((e as Error).message);
      process.exitCode = 2;
      return;
    }
    source = tokenSource({
      fetchToken: brokerTokenFetcher({ endpoint: endpoint.href, grantId: values.grant, authHeaders }),
    });
  } else {
    console.error('no token: calling without one (expect UNAUTHENTICATED)');
  }

  try {
    const response = await callMethod(values.address, values.method, request, {
      ...(source ? { credentials: callCredentials(source) } : {}),
    });
    console.log(JSON.stringify(response, null, 2));
  } catch (e) {
    const err = e as grpc.ServiceError;
    const name = typeof err.code === 'number' ? grpc.status[err.code] : 'ERROR';
    console.error(`${name}: ${err.details ?? err.message}`);
    process.exitCode = 1;
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
});
