import { describe, expect, it } from '@jest/globals';
import {
  assumedRoleArn,
  audienceFor,
  awsAttributeMapping,
  BROKER_PERMISSIONS,
  brokerAttributeCondition,
  brokerGrantCondition,
  rolePrincipalSet,
} from '../../../adapters/gcp/wif';

describe('Function: assumedRoleArn', () => {
  it.each([
    ['arn:aws:iam::111122223333:role/timebox-api', 'arn:aws:sts::111122223333:assumed-role/timebox-api'],
    ['arn:aws:iam::111122223333:role/timebox/lambda/timebox-api', 'arn:aws:sts::111122223333:assumed-role/timebox-api'],
    ['arn:aws-us-gov:iam::111122223333:role/r', 'arn:aws-us-gov:sts::111122223333:assumed-role/r'],
  ])('%s -> %s (the path is not part of an assumed-role ARN)', (arn, expected) => {
    expect(assumedRoleArn(arn)).toBe(expected);
  });

  it.each([
    'arn:aws:iam::111122223333:user/alice',
    'arn:aws:sts::111122223333:assumed-role/r/s',
    'arn:aws:iam::1111:role/r',
    "arn:aws:iam::111122223333:role/it's",
  ])('refuses %s', (arn) => {
    expect(() => assumedRoleArn(arn)).toThrow('is not an IAM role ARN');
  });
});

describe('Function: brokerAttributeCondition', () => {
  it('admits only the broker roles, deduplicated and sorted', () => {
    expect(
      brokerAttributeCondition([
        'arn:aws:iam::111122223333:role/timebox/timebox-sweeper',
        'arn:aws:iam::111122223333:role/timebox/timebox-api',
        'arn:aws:iam::111122223333:role/timebox-api',
      ]),
    ).toBe(
      "attribute.aws_role in ['arn:aws:sts::111122223333:assumed-role/timebox-api', 'arn:aws:sts::111122223333:assumed-role/timebox-sweeper']",
    );
  });

  it('refuses an empty list (a provider without a condition admits every role of the account)', () => {
    expect(() => brokerAttributeCondition([])).toThrow('at least one broker role');
  });
});

describe('Function: awsAttributeMapping', () => {
  it('maps the subject to the role, not the session (127-byte subject limit)', () => {
    const m = awsAttributeMapping();
    expect(m['google.subject']).toBe(m['attribute.aws_role']);
    expect(m['google.subject']).toContain("assertion.arn.extract('assumed-role/{role_name}/')");
    expect(m['google.subject']).not.toBe('assertion.arn');
  });
});

describe('Function: rolePrincipalSet / audienceFor', () => {
  it('builds the principal set of one role and the STS audience from resource names', () => {
    const pool = 'projects/123456789012/locations/global/workloadIdentityPools/timebox';
    expect(rolePrincipalSet(pool, 'arn:aws:iam::111122223333:role/timebox/timebox-api')).toBe(
      'principalSet://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/timebox/attribute.aws_role/arn:aws:sts::111122223333:assumed-role/timebox-api',
    );
    expect(audienceFor(`${pool}/providers/aws-broker`)).toBe(
      '//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/timebox/providers/aws-broker',
    );
  });
});

describe('Function: brokerGrantCondition', () => {
  it('limits the broker to granting the roles access.yaml names for the project', () => {
    expect(
      brokerGrantCondition(['roles/bigquery.jobUser', 'roles/bigquery.dataViewer', 'roles/bigquery.jobUser']),
    ).toEqual({
      title: 'timebox-broker-grantable-roles',
      description: 'Timebox broker: may grant and revoke only the roles access.yaml names for this project',
      expression:
        "api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', []).hasOnly(['roles/bigquery.dataViewer', 'roles/bigquery.jobUser'])",
    });
  });

  it('is not a Timebox grant title, so the runtime never touches the broker binding', () => {
    expect(brokerGrantCondition(['roles/x']).title.startsWith('timebox:')).toBe(false);
  });

  it('holds exactly the two IAM policy permissions', () => {
    expect([...BROKER_PERMISSIONS].sort()).toEqual([
      'resourcemanager.projects.getIamPolicy',
      'resourcemanager.projects.setIamPolicy',
    ]);
  });
});
