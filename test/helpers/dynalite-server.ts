import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { CreateTableCommand, type DynamoDBClient, ResourceInUseException } from '@aws-sdk/client-dynamodb';
import { createTableInput, EVENTS_TABLE, GRANTS_TABLE } from '../../adapters/aws/tables';

/**
 * dynalite (a DynamoDB-compatible server on LevelDB) for the integration tests of the DynamoDB adapter: same SDK,
 * same tables, on loopback. It has no TransactWriteItems, which is why the store needs none (adapters/aws/dynamodb.ts).
 */

interface DynaliteOptions {
  path?: string;
  createTableMs?: number;
  deleteTableMs?: number;
  updateTableMs?: number;
}
type DynaliteFactory = (opts: DynaliteOptions) => Server;

// dynalite ships no type declarations; load it through a typed require instead of an untyped import.
const dynalite = createRequire(__filename)('dynalite') as DynaliteFactory;

export interface RunningDynalite {
  endpoint: string;
  close(): Promise<void>;
}

/** Starts dynalite on 127.0.0.1 (port 0 = any free port), in memory unless `path` is given. */
export async function startDynalite(opts: { port?: number; path?: string } = {}): Promise<RunningDynalite> {
  const server = dynalite({
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
    ...(opts.path ? { path: opts.path } : {}),
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        // Keep-alive sockets from SDK clients would hold dynalite's graceful close open for its 30 s timeout.
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

/** Creates the events and grants tables (idempotent: an existing table is left as it is). */
export async function createTimeboxTables(
  client: DynamoDBClient,
  names: { events: string; grants: string },
): Promise<void> {
  for (const [name, spec] of [
    [names.events, EVENTS_TABLE],
    [names.grants, GRANTS_TABLE],
  ] as const) {
    try {
      await client.send(new CreateTableCommand(createTableInput(name, spec)));
    } catch (e) {
      if (!(e instanceof ResourceInUseException)) throw e;
    }
  }
}
