/**
 * The DynamoDB tables, described once: the Pulumi stack creates them from this, the local broker and the
 * integration tests create them in dynalite from this, and the adapters query the indexes named here.
 * Changing a key or an index here changes all three together.
 */
export interface IndexSpec {
  name: string;
  hashKey: string;
  rangeKey: string;
}

export interface TableSpec {
  hashKey: string;
  rangeKey?: string;
  /** Every attribute used as a table or index key, with its DynamoDB type. */
  attributes: Record<string, 'S' | 'N'>;
  indexes: IndexSpec[];
}

/**
 * Events: one item per event, key (grantId, seq). Append-only: written only with a conditional PutItem
 * (`attribute_not_exists(grantId)`), and no runtime role holds UpdateItem/DeleteItem on it.
 * Extra, non-hashed attributes for the indexes: `day` (UTC date of `at`), `atKey` (`<at>#<grantId>#<seq, 10 digits>`),
 * `actorId`.
 */
export const EVENTS_TABLE: TableSpec = {
  hashKey: 'grantId',
  rangeKey: 'seq',
  attributes: { grantId: 'S', seq: 'N', day: 'S', atKey: 'S', actorId: 'S', target: 'S' },
  indexes: [
    { name: 'byTime', hashKey: 'day', rangeKey: 'atKey' },
    { name: 'byActor', hashKey: 'actorId', rangeKey: 'atKey' },
    { name: 'byTarget', hashKey: 'target', rangeKey: 'atKey' },
  ],
};

/**
 * Grants: the projection, one view item per grant (key `grantId` = the grant id), plus one small "awaiting"
 * item per approver subject while a grant is pending (key `grantId` = `<id>#awaiting#<subject>`), which the
 * `byAwaiting` index serves. Index attributes on the view item: `requesterId`, `requestedAt`, `status`, `dueAt`
 * (pendingUntil / startAt / expiresAt / endedAt by status), `cleanup` (present only while cleanup is needed).
 */
export const GRANTS_TABLE: TableSpec = {
  hashKey: 'grantId',
  attributes: {
    grantId: 'S',
    requesterId: 'S',
    requestedAt: 'S',
    status: 'S',
    dueAt: 'S',
    awaitingSubject: 'S',
    cleanup: 'S',
    updatedAt: 'S',
  },
  indexes: [
    { name: 'byRequester', hashKey: 'requesterId', rangeKey: 'requestedAt' },
    { name: 'byStatus', hashKey: 'status', rangeKey: 'dueAt' },
    { name: 'byAwaiting', hashKey: 'awaitingSubject', rangeKey: 'requestedAt' },
    { name: 'byCleanup', hashKey: 'cleanup', rangeKey: 'updatedAt' },
  ],
};

/** CreateTable input (on-demand billing, all attributes projected) for dynalite and tests. */
export function createTableInput(tableName: string, spec: TableSpec) {
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST' as const,
    AttributeDefinitions: Object.entries(spec.attributes).map(([AttributeName, AttributeType]) => ({
      AttributeName,
      AttributeType,
    })),
    KeySchema: [
      { AttributeName: spec.hashKey, KeyType: 'HASH' as const },
      ...(spec.rangeKey ? [{ AttributeName: spec.rangeKey, KeyType: 'RANGE' as const }] : []),
    ],
    GlobalSecondaryIndexes: spec.indexes.map((i) => ({
      IndexName: i.name,
      KeySchema: [
        { AttributeName: i.hashKey, KeyType: 'HASH' as const },
        { AttributeName: i.rangeKey, KeyType: 'RANGE' as const },
      ],
      Projection: { ProjectionType: 'ALL' as const },
    })),
  };
}
