import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { type RevokedToken, signRevocationFeed } from '../../adapters/grpc/revocations';
import { LocalTokenSigner } from '../../adapters/local/signer';
import { grpcClaims } from '../../core/builders/grpc';
import { callCredentials, tokenSource } from '../client';
import { timeboxAuth } from '../interceptor';
import { callMethod, exampleServer, listen, shutdown } from './service';

/**
 * A self-contained walk through prefix tokens on loopback, no broker needed: a throwaway ES256 key, a JWKS and
 * revocation feed served by node:http, the example service behind the interceptor, and calls that show each
 * outcome. Run: `npx tsx grpc/example/demo.ts`.
 */
async function main(): Promise<void> {
  const signer = await LocalTokenSigner.generate();
  const revoked: RevokedToken[] = [];
  let base = '';
  const http = createServer((req, res) => {
    if (req.url === '/.well-known/jwks.json') {
      void signer
        .jwks()
        .then((jwks) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks)));
      return;
    }
    if (req.url === '/.well-known/timebox/revocations.json') {
      // Signed as the broker signs it: the interceptor takes no other form.
      void signRevocationFeed(revoked, signer, base, new Date()).then((feed) =>
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(feed)),
      );
      return;
    }
    res.writeHead(404).end();
  });
  base = await new Promise<string>((resolve) =>
    http.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(http.address() as AddressInfo).port}`)),
  );

  const auth = timeboxAuth({
    jwksUrl: `${base}/.well-known/jwks.json`,
    issuer: base,
    audience: 'user-service',
    revocationsUrl: `${base}/.well-known/timebox/revocations.json`,
    revocationPollMs: 200,
    revocationMaxStalenessMs: 2_000,
    onCall: (u) => console.log(`  interceptor: ${u.result}${u.reason ? ` (${u.reason})` : ''} sub=${u.sub ?? '-'}`),
  });
  const server = exampleServer({ interceptors: [auth] });
  const address = `127.0.0.1:${await listen(server, '127.0.0.1', 0)}`;
  console.log(`issuer/JWKS/feed at ${base}, gRPC at ${address}\n`);

  const mint = (grantId: string, methods: string[]) => {
    const now = new Date();
    const claims = grpcClaims({
      issuer: base,
      grantId,
      principalId: 'alice@corp.com',
      audience: 'user-service',
      methods,
      now,
      expiresAt: new Date(now.getTime() + 30 * 60_000),
      ttlMs: 5 * 60_000,
    });
    return signer.sign({ ...claims });
  };
  const withToken = (token: string) =>
    callCredentials(tokenSource({ fetchToken: async () => ({ token, expiresAt: '9999-12-31T23:59:59Z' }) }));
  const attempt = async (label: string, method: string, credentials?: grpc.CallCredentials) => {
    console.log(`${label}\n  call ${method}`);
    try {
      const out = await callMethod(address, method, { id: 'u-1' }, credentials ? { credentials } : {});
      console.log(`  -> OK ${JSON.stringify(out)}\n`);
    } catch (e) {
      const err = e as grpc.ServiceError;
      console.log(`  -> ${grpc.status[err.code]}: ${err.details}\n`);
    }
  };

  const users = await mint('tb-demo-users', ['/acme.user.v1.UserService/*']);
  const admin = await mint('tb-demo-admin', ['/acme.admin.*']);
  await attempt('1. no token', '/acme.user.v1.UserService/GetUser');
  await attempt('2. user-service token, in scope', '/acme.user.v1.UserService/GetUser', withToken(users));
  await attempt(
    '3. same token, admin method (out of scope)',
    '/acme.admin.v1.AdminService/DeleteUser',
    withToken(users),
  );
  await attempt('4. /acme.admin.* token, admin method', '/acme.admin.v1.AdminService/ResetPassword', withToken(admin));

  console.log('5. the broker revokes tb-demo-admin; waiting for the next poll of the feed');
  revoked.push({ jti: 'tb-demo-admin', exp: Math.floor(Date.now() / 1000) + 300 });
  const listed = () => auth.authorize([`Bearer ${admin}`], '/acme.admin.v1.AdminService/ResetPassword');
  const giveUp = Date.now() + 5_000;
  while ((await listed()).result === 'ok' && Date.now() < giveUp) await new Promise((r) => setTimeout(r, 50));
  await attempt('   same admin token again', '/acme.admin.v1.AdminService/ResetPassword', withToken(admin));

  auth.close();
  await shutdown(server);
  await new Promise<void>((r) => (http as Server).close(() => r()));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
