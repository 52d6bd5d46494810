import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { createTimeboxTables } from '../adapters/aws/dynalite';
import { DynamoEventStore, DynamoProjectionStore, documentClient } from '../adapters/aws/dynamodb';
import { UnavailableError } from '../core/errors';
import type { GrantStatus } from '../core/grant/events';
import { type InProcessDynalite, startInProcessDynalite } from './dynalite';
import { dataDir } from './paths';

const UNSIGNED_DATE = '20000101T000000Z';
const UNSIGNED_AUTHORIZATION =
  'AWS4-HMAC-SHA256 Credential=local/20000101/local/dynamodb/aws4_request, SignedHeaders=host;x-amz-date, Signature=unsigned';

/** Table names inside the local dynalite (one broker per data directory, so fixed names). */
export const LOCAL_TABLES = { events: 'timebox-events', grants: 'timebox-grants' } as const;

export interface LocalStore {
  dynalite: InProcessDynalite;
  client: DynamoDBClient;
  doc: DynamoDBDocumentClient;
  events: DynamoEventStore;
  projections: DynamoProjectionStore;
  close(): Promise<void>;
}

/**
 * dynalite in this process, on a loopback port of its own, persisted under `<home>/data` (or in memory), with the
 * Timebox tables created from the same table contract the stack deploys: the local broker runs the very DynamoDB
 * adapter that runs on AWS.
 */
export async function openLocalStore(opts: { home: string; memory?: boolean }): Promise<LocalStore> {
  let path: string | undefined;
  let unlock = () => {};
  if (!opts.memory) {
    path = dataDir(opts.home);
    mkdirSync(path, { recursive: true, mode: 0o700 });
    unlock = lockDataDir(path);
  }
  let dynalite: InProcessDynalite;
  try {
    dynalite = await startInProcessDynalite(path ? { path } : {});
  } catch (e) {
    unlock();
    throw e;
  }
  const client = new DynamoDBClient({
    endpoint: dynalite.endpoint,
    requestHandler: dynalite.requestHandler,
    // dynalite checks neither region nor credentials; these only satisfy the SDK.
    region: 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    // dynalite checks that a SigV4 Authorization header is there, never what it signs, so computing signatures
    // on loopback calls is CPU spent for nothing (SHA-256 and HMAC on every call in the API benchmark's profile).
    httpAuthSchemes: [
      {
        schemeId: 'aws.auth#sigv4',
        identityProvider: (ipc) => ipc.getIdentityProvider('aws.auth#sigv4'),
        signer: {
          sign: async (request) => {
            const r = request as { headers: Record<string, string> };
            r.headers.authorization = UNSIGNED_AUTHORIZATION;
            r.headers['x-amz-date'] = UNSIGNED_DATE;
            return request;
          },
        },
      },
    ],
  });
  try {
    await createTimeboxTables(client, LOCAL_TABLES);
    for (const table of Object.values(LOCAL_TABLES)) await untilActive(client, table);
  } catch (e) {
    client.destroy();
    await dynalite.close();
    unlock();
    const message = e instanceof Error ? e.message : String(e);
    throw new UnavailableError('LOCAL.STORE_UNAVAILABLE', `cannot open the local store at ${path}: ${message}`, {
      cause: e,
    });
  }
  const doc = documentClient(client);
  return {
    dynalite,
    client,
    doc,
    events: new DynamoEventStore(doc, LOCAL_TABLES.events),
    projections: new DynamoProjectionStore(doc, LOCAL_TABLES.grants),
    async close() {
      client.destroy();
      try {
        await dynalite.close();
      } finally {
        unlock();
      }
    },
  };
}

/**
 * One broker per data directory: LevelDB allows a single opener, and a second one in the same process waits forever
 * instead of failing. A lock file with the owner's pid makes the second broker fail at once with a clear message; a
 * lock left by a process that no longer runs (a crash, kill -9) is taken over.
 */
function lockDataDir(dir: string): () => void {
  const file = join(dir, 'broker.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(file, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number(readFileSync(file, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0 && alive(pid))
        throw new UnavailableError(
          'LOCAL.DATA_DIR_IN_USE',
          `${dir} is in use by another local broker (pid ${pid}); stop it or set TIMEBOX_HOME to another directory`,
        );
      rmSync(file, { force: true });
    }
  }
  throw new UnavailableError('LOCAL.DATA_DIR_IN_USE', `cannot lock ${dir}`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: the process exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** dynalite answers CreateTable at once but serves a table only once it turns ACTIVE, a timer tick later. */
async function untilActive(client: DynamoDBClient, table: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: table }));
    const indexes = Table?.GlobalSecondaryIndexes ?? [];
    if (Table?.TableStatus === 'ACTIVE' && indexes.every((x) => x.IndexStatus === 'ACTIVE')) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`table ${table} did not become ACTIVE`);
}

/**
 * Every grant in `status` with its due time (`dueAt` of tables.ts: for `active` the expiry, for `approved` the
 * start, for terminal statuses the end). Only the needed attributes are read, page by page. It scans the table
 * rather than querying the `byStatus` index: dynalite loses items when it pages through an index whose items share
 * one sort key (10,000 grants expiring in the same second came back as 9,998 in every run), and a schedule that is
 * never re-armed leaves its grant to the sweeper. A scan pages by the table's own unique key, which it gets right.
 */
export async function dueGrants(
  doc: DynamoDBDocumentClient,
  status: GrantStatus,
  table: string = LOCAL_TABLES.grants,
): Promise<{ grantId: string; dueAt: string }[]> {
  const out: { grantId: string; dueAt: string }[] = [];
  let key: Record<string, unknown> | undefined;
  do {
    const page = await doc.send(
      new ScanCommand({
        TableName: table,
        FilterExpression: '#s = :s',
        ProjectionExpression: '#g, #d',
        ExpressionAttributeNames: { '#s': 'status', '#g': 'grantId', '#d': 'dueAt' },
        ExpressionAttributeValues: { ':s': status },
        ...(key ? { ExclusiveStartKey: key } : {}),
      }),
    );
    for (const item of page.Items ?? [])
      if (typeof item.grantId === 'string' && typeof item.dueAt === 'string')
        out.push({ grantId: item.grantId, dueAt: item.dueAt });
    key = page.LastEvaluatedKey;
  } while (key);
  return out;
}
