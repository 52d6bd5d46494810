import { ROLE_PATH } from '../../core/builders/aws';

/** The shapes every IAM document here is built from, and the helpers the builders share. */

export type Values = string | string[];

export interface Statement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Principal?: '*' | { AWS?: Values; Service?: Values };
  Action: Values;
  Resource?: Values;
  Condition?: Record<string, Record<string, Values | boolean>>;
}

export interface PolicyDocument {
  Version: '2012-10-17';
  Statement: Statement[];
}

/** Name of the role in each spoke account that the hub assumes to write and clean up revocation denies. */
export const REVOKER_ROLE_NAME = 'timebox-revoker';

export function doc(statements: Statement[]): PolicyDocument {
  return { Version: '2012-10-17', Statement: statements };
}

export function one(values: string[]): Values {
  return values.length === 1 ? (values[0] as string) : values;
}

/** `arn:aws:iam::<account>:role/timebox/*` for each account: the only roles Timebox vends or revokes on. */
export function timeboxRoleArns(partition: string, accounts: string[]): string[] {
  return [...new Set(accounts)].sort().map((a) => `arn:${partition}:iam::${a}:role${ROLE_PATH}*`);
}

/** The account administers the key (KMS Developer Guide, "Default key policy"). */
export function rootAdmin(partition: string, account: string): Statement {
  // Without this statement no IAM policy could grant use of the key and the key could become unmanageable
  // (KMS Developer Guide, "Default key policy").
  return {
    Sid: 'AccountAdministers',
    Effect: 'Allow',
    Principal: { AWS: `arn:${partition}:iam::${account}:root` },
    Action: 'kms:*',
    Resource: '*',
  };
}
