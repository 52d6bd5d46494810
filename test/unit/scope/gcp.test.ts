import { describe, expect, it } from '@jest/globals';
import { isBasicRole, parseGcpRole } from '../../../core/scope/gcp';

describe('Function: parseGcpRole', () => {
  it.each([
    ['roles/bigquery.dataViewer', { kind: 'predefined', name: 'bigquery.dataViewer' }],
    ['roles/storage.objectViewer', { kind: 'predefined', name: 'storage.objectViewer' }],
    ['roles/owner', { kind: 'predefined', name: 'owner' }],
    ['projects/acme-analytics/roles/logReader', { kind: 'project', project: 'acme-analytics', roleId: 'logReader' }],
    [
      'projects/acme-analytics/roles/team.reader_2',
      { kind: 'project', project: 'acme-analytics', roleId: 'team.reader_2' },
    ],
    [
      'organizations/123456789012/roles/auditor',
      { kind: 'organization', organization: '123456789012', roleId: 'auditor' },
    ],
  ])('accepts %s', (role, expected) => {
    // Act
    const r = parseGcpRole(role);

    // Assert
    expect(r).toEqual({ ok: true, role: { ...expected, source: role } });
  });

  it.each([
    '',
    'bigquery.dataViewer',
    'roles/',
    'roles/bigquery..dataViewer',
    'roles/bigquery.',
    'roles/bigquery.*',
    'roles/*',
    'roles/bigquery/dataViewer',
    'roles/bigquery.dataViewer ',
    'roles/bigquery.dataViewer\u0000',
    'roles/bigquery.dataVi\u0435wer',
    'Roles/bigquery.dataViewer',
    'projects/acme-analytics/roles/',
    'projects/acme-analytics/roles/ab',
    'projects/Acme/roles/logReader',
    'projects/acme-/roles/logReader',
    'projects/example.com:acme/roles/logReader',
    'projects/acme-analytics/roles/log/Reader',
    'organizations/acme/roles/auditor',
    'organizations/123/roles/au',
    `roles/${'a'.repeat(300)}`,
  ])('refuses %j', (role) => {
    const r = parseGcpRole(role);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.message).toMatch(/GCP role/);
  });
});

describe('Function: isBasicRole', () => {
  it.each([
    ['roles/owner', true],
    ['roles/editor', true],
    ['roles/viewer', true],
    ['roles/browser', false],
    ['roles/bigquery.dataViewer', false],
    ['roles/Owner', false],
    ['projects/acme-analytics/roles/owner', false],
  ])('%s is %s', (role, expected) => {
    expect(isBasicRole(role)).toBe(expected);
  });
});
