import { parseArgs } from 'node:util';
import { timeboxAuth } from '../interceptor';
import { EXAMPLE_METHODS, exampleServer, listen, shutdown } from './service';

/**
 * The example service behind the Timebox interceptor:
 *   tsx grpc/example/server.ts --port 50051 --broker http://127.0.0.1:8787 --audience user-service
 * (`--broker` stands for --issuer, --jwks and --revocations at the broker's usual paths; revocations are pushed.)
 */
const USAGE = `usage: server (--broker URL | --issuer URL --jwks URL [--revocations URL]) [--audience user-service]
              [--port 50051] [--host 127.0.0.1] [--poll-ms 15000] [--max-staleness-ms 60000]`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '50051' },
      host: { type: 'string', default: '127.0.0.1' },
      broker: { type: 'string' },
      jwks: { type: 'string' },
      issuer: { type: 'string' },
      audience: { type: 'string', default: 'user-service' },
      revocations: { type: 'string' },
      'poll-ms': { type: 'string', default: '15000' },
      'max-staleness-ms': { type: 'string', default: '60000' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  if (!values.broker && (!values.jwks || !values.issuer)) {
    console.error(`--broker, or --jwks and --issuer, are required\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  const port = Number(values.port);
  const pollMs = Number(values['poll-ms']);
  const maxStalenessMs = Number(values['max-staleness-ms']);
  if (!Number.isInteger(port) || port < 0 || port > 65535 || !(pollMs > 0) || !(maxStalenessMs > 0)) {
    console.error(`--port, --poll-ms and --max-staleness-ms must be numbers\n${USAGE}`);
    process.exitCode = 2;
    return;
  }

  const auth = timeboxAuth({
    ...(values.broker ? { broker: values.broker } : {}),
    ...(values.jwks ? { jwksUrl: values.jwks } : {}),
    ...(values.issuer ? { issuer: values.issuer } : {}),
    audience: values.audience,
    ...(values.revocations || values.broker
      ? {
          ...(values.revocations ? { revocationsUrl: values.revocations } : {}),
          revocationPollMs: pollMs,
          revocationMaxStalenessMs: maxStalenessMs,
        }
      : {}),
    onCall: (u) =>
      console.log(
        `${new Date().toISOString()} ${u.result.padEnd(17)} ${u.method} sub=${u.sub ?? '-'} grant=${u.grantId ?? '-'}${u.reason ? ` reason=${u.reason}` : ''}`,
      ),
    onRevocationPoll: (r) => {
      if (!r.ok) console.log(`${new Date().toISOString()} revocation feed unreadable: ${r.error}`);
    },
  });
  const server = exampleServer({ interceptors: [auth] });
  const bound = await listen(server, values.host, port);

  console.log(`acme example gRPC server on ${values.host}:${bound} (plaintext: loopback demos only)`);
  console.log('every call must carry "authorization: Bearer <JWT>" and pass, in order:');
  const base = values.broker?.replace(/\/+$/, '');
  const jwks = values.jwks ?? `${base}/.well-known/jwks.json`;
  const feed = values.revocations ?? (base ? `${base}/.well-known/timebox/revocations.json` : undefined);
  console.log(`  signature  ES256 only, key by kid from ${jwks}`);
  console.log(`  issuer     iss = ${values.issuer ?? base}`);
  console.log(`  audience   aud = ${values.audience}`);
  console.log('  time       exp in the future (no tolerance), nbf with 5 s tolerance');
  if (feed)
    console.log(
      `  revocation jti not in ${feed} (pushed by a broker that holds requests, else read every ${pollMs} ms; calls refused if unread for ${maxStalenessMs} ms)`,
    );
  else console.log('  revocation NOT CHECKED (no --revocations): a revoked token works until it expires');
  console.log('  scope      the method path matches one of the token scope patterns (segment-aware)');
  console.log(`methods: ${EXAMPLE_METHODS.join(' ')}`);

  const stop = async () => {
    auth.close();
    await shutdown(server);
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
});
