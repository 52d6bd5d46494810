import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { expectWith } from '../../helpers/runner';

const ROOT = join(__dirname, '..', '..', '..');

describe('npm run example:grpc:demo', () => {
  it('shows each outcome: no token, in scope, out of scope, admin prefix, and revoked through the signed feed', () => {
    // Act
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'grpc', 'example', 'demo.ts')], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 60_000,
    });
    // Assess
    expectWith(r.status, r.stderr).toBe(0);
    const outcomes = r.stdout.split('\n').filter((l) => l.startsWith('  -> '));
    expect(outcomes.map((l) => /^ {2}-> (\w+)/.exec(l)?.[1])).toEqual([
      'UNAUTHENTICATED',
      'OK',
      'PERMISSION_DENIED',
      'OK',
      'UNAUTHENTICATED',
    ]);
    expect(outcomes[0]).toContain('missing-token');
    expect(outcomes[2]).toContain('out-of-scope');
    expect(outcomes[4]).toContain('timebox: revoked:');
  });
});
