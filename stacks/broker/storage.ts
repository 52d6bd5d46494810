import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { EVENTS_TABLE, GRANTS_TABLE, type TableSpec } from '../../adapters/aws/tables';
import { signingKeyPolicy } from '../policies';
import { Section, type SectionOptions } from '../section';

export interface BrokerStorageArgs {
  partition: string;
  account: string;
  namePrefix: string;
  /** The api function's role: the only principal that may sign with the key. */
  apiRoleArn: pulumi.Input<string>;
}

/** What the broker keeps: the audit event table, the grant projection and the token signing key. */
export class BrokerStorage extends Section {
  public readonly eventsTable: aws.dynamodb.Table;
  public readonly grantsTable: aws.dynamodb.Table;
  public readonly signingKey: aws.kms.Key;

  constructor(name: string, args: BrokerStorageArgs, opts: SectionOptions) {
    super('timebox:aws:BrokerStorage', name, opts);
    const { partition, account } = args;
    // Events are the audit record: kept when the stack is destroyed, and protected from DeleteTable meanwhile.
    this.eventsTable = new aws.dynamodb.Table(`${name}-events`, tableArgs(EVENTS_TABLE, 'Timebox audit events'), {
      ...this.child,
      retainOnDelete: true,
    });
    this.grantsTable = new aws.dynamodb.Table(
      `${name}-grants`,
      tableArgs(GRANTS_TABLE, 'Timebox grant projection'),
      this.child,
    );
    this.signingKey = new aws.kms.Key(
      `${name}-signing-key`,
      {
        description: 'Timebox token signing key (ES256)',
        customerMasterKeySpec: 'ECC_NIST_P256',
        keyUsage: 'SIGN_VERIFY',
        deletionWindowInDays: 30,
        policy: pulumi
          .output(args.apiRoleArn)
          .apply((apiRoleArn) => JSON.stringify(signingKeyPolicy({ partition, account, apiRoleArn }))),
      },
      this.child,
    );
    new aws.kms.Alias(
      `${name}-signing-key-alias`,
      { name: `alias/${args.namePrefix}-signing`, targetKeyId: this.signingKey.keyId },
      this.child,
    );
    this.registerOutputs({
      eventsTable: this.eventsTable.name,
      grantsTable: this.grantsTable.name,
      signingKey: this.signingKey.keyId,
    });
  }
}

function tableArgs(spec: TableSpec, description: string): aws.dynamodb.TableArgs {
  return {
    billingMode: 'PAY_PER_REQUEST',
    hashKey: spec.hashKey,
    ...(spec.rangeKey ? { rangeKey: spec.rangeKey } : {}),
    attributes: Object.entries(spec.attributes).map(([name, type]) => ({ name, type })),
    globalSecondaryIndexes: spec.indexes.map((i) => ({
      name: i.name,
      keySchemas: [
        { attributeName: i.hashKey, keyType: 'HASH' },
        { attributeName: i.rangeKey, keyType: 'RANGE' },
      ],
      projectionType: 'ALL',
    })),
    pointInTimeRecovery: { enabled: true },
    // KMS encryption at rest with the AWS managed key (alias/aws/dynamodb): no key grants for the roles to get wrong.
    serverSideEncryption: { enabled: true },
    deletionProtectionEnabled: true,
    tags: { 'timebox:table': description },
  };
}
