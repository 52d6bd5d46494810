import { randomBytes } from 'node:crypto';
import { DeleteTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoEventStore, DynamoProjectionStore, documentClient } from '../../adapters/aws/dynamodb';
import { DYNALITE_ENDPOINT_ENV } from './dynalite-global';
import { createTimeboxTables, type RunningDynalite, startDynalite } from './dynalite-server';

/** Endpoint of the one dynalite the integration project's globalSetup starts (test/helpers/dynalite-global.ts). */
function sharedEndpoint(): string {
  const endpoint = process.env[DYNALITE_ENDPOINT_ENV];
  if (!endpoint) throw new Error(`${DYNALITE_ENDPOINT_ENV} is not set: run this file in the integration project`);
  return endpoint;
}

/** Starts a private dynalite on 127.0.0.1 at a free port (use the shared one via `dynamoTables()` when possible). */
export function startLocalDynamo(): Promise<RunningDynalite> {
  return startDynalite();
}

/** An SDK client for a dynalite endpoint: fixed region and dummy credentials, since dynalite checks neither. */
export function dynaliteClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
}

export interface DynamoFixture {
  client: DynamoDBClient;
  doc: DynamoDBDocumentClient;
  names: { events: string; grants: string };
  events: DynamoEventStore;
  projections: DynamoProjectionStore;
  /** Deletes the tables and closes the client. */
  dispose(): Promise<void>;
}

/**
 * Fresh tables with unique names on the shared dynalite (or on `endpoint`), so tests never see each other's
 * items even when files run in parallel.
 */
export async function dynamoTables(endpoint: string = sharedEndpoint()): Promise<DynamoFixture> {
  const client = dynaliteClient(endpoint);
  const suffix = randomBytes(6).toString('hex');
  const names = { events: `timebox-events-${suffix}`, grants: `timebox-grants-${suffix}` };
  await createTimeboxTables(client, names);
  const doc = documentClient(client);
  return {
    client,
    doc,
    names,
    events: new DynamoEventStore(doc, names.events),
    projections: new DynamoProjectionStore(doc, names.grants),
    async dispose() {
      for (const TableName of [names.events, names.grants]) await client.send(new DeleteTableCommand({ TableName }));
      client.destroy();
    },
  };
}
