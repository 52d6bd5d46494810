import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { build, type Metafile, type Plugin } from 'esbuild';
import {
  bundleProblems,
  describeBundle,
  LAMBDA_ENTRY_FILE,
  LAMBDAS,
  MAX_BUNDLE_BYTES,
  sdkProtocolsDirect,
  sdkVersionOnly,
} from '../../../scripts/build';

type Output = Metafile['outputs'][string];

/** One output file of a metafile: its size, the sources in it, and what it imports (static or `import()`). */
function outputDummy(partial: { bytes?: number; inputs?: string[]; imports?: string[]; lazy?: string[] } = {}): Output {
  return {
    bytes: partial.bytes ?? 1000,
    inputs: Object.fromEntries((partial.inputs ?? []).map((p) => [p, { bytesInOutput: 1 }])),
    imports: [
      ...(partial.imports ?? []).map((path) => ({ path, kind: 'import-statement' as const })),
      ...(partial.lazy ?? []).map((path) => ({ path, kind: 'dynamic-import' as const })),
    ],
    exports: [],
  };
}

/**
 * A function's build as describeBundle reads it: index.mjs importing a shared chunk, which imports another, and a
 * lazily loaded chunk that shares the second one. Override any file.
 */
function metafileDummy(outputs: Record<string, Output> = {}): Metafile {
  const d = 'dist/lambdas/revoke';
  return {
    inputs: {},
    outputs: {
      [`${d}/index.mjs`]: outputDummy({
        bytes: 100_000,
        inputs: ['lambdas/revoke/index.ts'],
        imports: [`${d}/chunk-A.mjs`, 'node:fs'],
        lazy: [`${d}/aws-role-B.mjs`],
      }),
      [`${d}/index.mjs.map`]: outputDummy({ bytes: 900_000 }),
      [`${d}/chunk-A.mjs`]: outputDummy({ bytes: 20_000, imports: [`${d}/chunk-C.mjs`] }),
      [`${d}/chunk-C.mjs`]: outputDummy({ bytes: 3_000 }),
      [`${d}/aws-role-B.mjs`]: outputDummy({
        bytes: 50_000,
        inputs: ['node_modules/@aws-sdk/client-iam/dist-es/IAMClient.js'],
        imports: [`${d}/chunk-C.mjs`],
      }),
      ...Object.fromEntries(Object.entries(outputs).map(([f, o]) => [`${d}/${f}`, o])),
    },
  };
}

const bundleOf = (outputs: Record<string, Output> = {}) =>
  describeBundle('revoke', '/tmp/out/revoke', metafileDummy(outputs));

describe('Function: describeBundle', () => {
  it('counts at init the entry and the chunks it imports statically, transitively, and nothing loaded lazily', () => {
    // Act
    const b = bundleOf();
    // Assess
    expect(b.file).toBe(`/tmp/out/revoke/${LAMBDA_ENTRY_FILE}`);
    expect(b.initFiles).toEqual(['index.mjs', 'chunk-A.mjs', 'chunk-C.mjs']);
    expect(b.bytes).toBe(100_000);
    expect(b.initBytes).toBe(123_000);
    expect(b.totalBytes).toBe(173_000);
    expect(b.files.sort()).toEqual(['aws-role-B.mjs', 'chunk-A.mjs', 'chunk-C.mjs', 'index.mjs']);
  });

  it('refuses a build without index.mjs', () => {
    const metafile = metafileDummy();
    delete metafile.outputs['dist/lambdas/revoke/index.mjs'];
    expect(() => describeBundle('revoke', '/tmp/out/revoke', metafile)).toThrow('revoke: the build wrote no index.mjs');
  });
});

describe('Function: bundleProblems', () => {
  it('finds nothing wrong with a small bundle of allowed code', () => {
    expect(bundleProblems(bundleOf())).toEqual([]);
  });

  it('refuses the AGPL simulator anywhere, inlined or left as a run-time import, lazily loaded or not', () => {
    const inlined = bundleOf({
      'aws-role-B.mjs': outputDummy({ inputs: ['node_modules/@cloud-copilot/iam-simulate/x.js'] }),
    });
    const imported = bundleOf({ 'chunk-C.mjs': outputDummy({ imports: ['@cloud-copilot/iam-simulate'] }) });
    expect(bundleProblems(inlined)).toEqual(['revoke: bundles @cloud-copilot/iam-simulate']);
    expect(bundleProblems(imported)).toEqual(['revoke: bundles @cloud-copilot/iam-simulate']);
  });

  it('refuses YAML, the policy file loader, classic zod and google-auth-library at init, not in lazy chunks', () => {
    // Prepare
    const atInit = bundleOf({
      'chunk-C.mjs': outputDummy({
        inputs: [
          'node_modules/yaml/dist/index.js',
          'core/policy/load.ts',
          'core/policy/schema.ts',
          'node_modules/zod/v4/classic/schemas.js',
          'node_modules/google-auth-library/build/src/index.js',
        ],
      }),
    });
    const lazily = bundleOf({
      'aws-role-B.mjs': outputDummy({ inputs: ['node_modules/google-auth-library/build/src/index.js'] }),
    });
    // Act / Assess
    expect(bundleProblems(atInit)).toEqual([
      'revoke: loads yaml at init',
      'revoke: loads core/policy/load.ts at init',
      'revoke: loads core/policy/schema.ts at init',
      'revoke: loads zod/v4/classic at init',
      'revoke: loads google-auth-library at init',
    ]);
    expect(bundleProblems(lazily)).toEqual([]);
  });

  it('refuses more than 400 KB loaded at init, counting shared chunks, and allows any size loaded lazily', () => {
    const over = bundleOf({ 'chunk-C.mjs': outputDummy({ bytes: MAX_BUNDLE_BYTES - 120_000 + 1 }) });
    const exact = bundleOf({ 'chunk-C.mjs': outputDummy({ bytes: MAX_BUNDLE_BYTES - 120_000 }) });
    const bigLazy = bundleOf({ 'aws-role-B.mjs': outputDummy({ bytes: 5 * MAX_BUNDLE_BYTES }) });
    expect(bundleProblems(over)).toEqual(['revoke: 400.0 KB loaded at init is over the 400 KB limit']);
    expect(bundleProblems(exact)).toEqual([]);
    expect(bundleProblems(bigLazy)).toEqual([]);
  });
});

describe('Plugin: sdkVersionOnly', () => {
  it('gives bundled code an SDK package.json holding its version alone', async () => {
    // Act
    const r = await build({
      stdin: { contents: "import p from '@aws-sdk/client-sts/package.json'; console.log(p);", resolveDir: __dirname },
      bundle: true,
      write: false,
      format: 'esm',
      plugins: [sdkVersionOnly],
    });
    // Assess
    const text = r.outputFiles[0]?.text ?? '';
    expect(text).toMatch(/version: "3\.\d+\.\d+"/);
    expect(text).not.toContain('dependencies');
  });
});

describe('Plugin: sdkProtocolsDirect', () => {
  /** The source files a bundle of DynamoDB's runtime configuration reads, with or without the plugin. */
  async function inputsOf(plugins: Plugin[]): Promise<string[]> {
    const r = await build({
      stdin: {
        contents: "export { getRuntimeConfig } from '@aws-sdk/client-dynamodb/dist-es/runtimeConfig.shared.js';",
        resolveDir: join(__dirname, '../../..'),
      },
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'node',
      metafile: true,
      mainFields: ['module', 'main'],
      // The package's exports map has no such subpath; resolve the file the client itself imports.
      plugins: [
        {
          name: 'dist-es-entry',
          setup(b) {
            b.onResolve({ filter: /runtimeConfig\.shared\.js$/ }, () => ({
              path: require
                .resolve('@aws-sdk/client-dynamodb')
                .replace(/dist-cjs.*$/, 'dist-es/runtimeConfig.shared.js'),
            }));
          },
        },
        ...plugins,
      ],
    });
    return Object.keys(r.metafile.inputs);
  }

  it('imports each protocol from the file that defines it, so other protocols are not reached', async () => {
    const dir = '@aws-sdk/core/dist-es/submodules/protocols';
    const has = (inputs: string[], file: string) => inputs.some((p) => p.endsWith(`${dir}/${file}`));
    const direct = await inputsOf([sdkProtocolsDirect]);
    const through = await inputsOf([]);
    expect(has(through, 'index.js')).toBe(true);
    expect(has(through, 'query/AwsQueryProtocol.js')).toBe(true);
    expect(has(direct, 'json/AwsJson1_0Protocol.js')).toBe(true);
    expect(has(direct, 'index.js')).toBe(false);
    expect(has(direct, 'query/AwsQueryProtocol.js')).toBe(false);
  });
});

describe('Constant: LAMBDAS', () => {
  it('has one entry file per function, api, revoke and sweeper among them', () => {
    expect(LAMBDAS).toMatchObject({
      api: 'lambdas/api/index.ts',
      revoke: 'lambdas/revoke/index.ts',
      sweeper: 'lambdas/sweeper/index.ts',
    });
    for (const [name, entry] of Object.entries(LAMBDAS)) expect(entry).toBe(`lambdas/${name}/index.ts`);
  });
});
