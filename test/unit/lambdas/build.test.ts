import type { Metafile } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { bundleProblems, LAMBDAS, MAX_BUNDLE_BYTES } from '../../../scripts/build';

/** A bundle as buildLambdas describes it, with a metafile listing these inputs and run-time imports. */
function bundleDummy(partial: { bytes?: number; inputs?: string[]; imports?: string[] } = {}) {
  const metafile: Metafile = {
    inputs: Object.fromEntries(
      (partial.inputs ?? ['lambdas/revoke/index.ts']).map((p) => [p, { bytes: 1, imports: [] }]),
    ),
    outputs: {
      'index.js': {
        bytes: partial.bytes ?? 1000,
        inputs: {},
        imports: (partial.imports ?? []).map((path) => ({ path, kind: 'require-call' as const, external: true })),
        exports: [],
      },
    },
  };
  return { name: 'revoke', file: '/tmp/revoke/index.js', bytes: partial.bytes ?? 1000, metafile };
}

describe('Function: bundleProblems', () => {
  it('finds nothing wrong with a small bundle of allowed code', () => {
    expect(bundleProblems(bundleDummy())).toEqual({ fatal: [], warnings: [] });
  });

  it('is fatal when the AGPL simulator is inlined or left as a run-time import', () => {
    const inlined = bundleDummy({ inputs: ['node_modules/@cloud-copilot/iam-simulate/dist/index.js'] });
    const imported = bundleDummy({ imports: ['@cloud-copilot/iam-simulate'] });
    expect(bundleProblems(inlined).fatal).toEqual(['revoke: bundles @cloud-copilot/iam-simulate']);
    expect(bundleProblems(imported).fatal).toEqual(['revoke: bundles @cloud-copilot/iam-simulate']);
  });

  it('warns about a bundle over the size target', () => {
    const r = bundleProblems(bundleDummy({ bytes: MAX_BUNDLE_BYTES + 1 }));
    expect(r.fatal).toEqual([]);
    expect(r.warnings).toEqual(['revoke: 400 KB is over the 400 KB target']);
  });
});

describe('Constant: LAMBDAS', () => {
  it('has one entry file per function', () => {
    expect(LAMBDAS).toEqual({
      api: 'lambdas/api/index.ts',
      revoke: 'lambdas/revoke/index.ts',
      sweeper: 'lambdas/sweeper/index.ts',
    });
  });
});
