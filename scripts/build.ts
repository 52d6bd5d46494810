import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { type BuildOptions, build, type Metafile, type Plugin } from 'esbuild';

/**
 * Bundles the CLI and every Lambda handler with esbuild. Lambda bundles are minified CommonJS for Node 20 with
 * source maps; the AWS SDK is bundled (not taken from the runtime) so the deployed code runs exactly the pinned
 * versions that the tests ran.
 */
export const LAMBDAS: Record<string, string> = {
  api: 'lambdas/api/index.ts',
  revoke: 'lambdas/revoke/index.ts',
  sweeper: 'lambdas/sweeper/index.ts',
};

/**
 * Target size of a minified bundle: cold start time grows with the code Lambda has to read and compile. Not met
 * today (see README, "Lambda bundles"), so `npm run build` warns about it instead of failing.
 */
export const MAX_BUNDLE_BYTES = 400 * 1024;

/** Never in a Lambda bundle: AGPL-3.0, for verification tests only. */
export const FORBIDDEN_IN_BUNDLES = ['@cloud-copilot/iam-simulate'];

const common: BuildOptions = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: true,
  legalComments: 'none',
  logLevel: 'warning',
  // AGPL: verification tests only, never shipped.
  external: ['@cloud-copilot/iam-simulate'],
};

/**
 * Zod's namespace re-exports its ~50 message locales (about 290 KB minified) through `z.locales`, which esbuild
 * cannot drop because `z` is used as a value. Timebox's messages are English (`en`, which zod registers by
 * default), so the locale index is replaced by one exporting `en` alone; `z.locales.xx` is never used here.
 */
export const englishOnlyZod: Plugin = {
  name: 'zod-english-only',
  setup(b) {
    b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      args.importer.includes(`${sep}node_modules${sep}zod${sep}`)
        ? { path: join(dirname(args.importer), '..', 'locales', 'en.js'), namespace: 'zod-locales' }
        : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'zod-locales' }, (args) => ({
      contents: `export { default as en } from ${JSON.stringify(args.path)};`,
      resolveDir: dirname(args.path),
    }));
  },
};

/**
 * Code a function loads only on first use, emitted as a separate file next to each function's index.js.
 * The import that reaches it (from `importer`) is left as a run-time require of `./<file>`.
 */
export const LAZY_CHUNKS = [{ file: 'gcp.js', entry: 'adapters/gcp/provider.ts', importer: 'lambdas/gcp-lazy.ts' }];

/** Leaves each lazy chunk's import as `require('./<file>')`, resolved next to the bundle at run time. */
const lazyChunks = (root: string): Plugin => ({
  name: 'lazy-chunks',
  setup(b) {
    b.onResolve({ filter: /.*/ }, (args) => {
      const chunk = LAZY_CHUNKS.find(
        (c) =>
          args.importer === join(root, c.importer) &&
          join(args.resolveDir, args.path).replace(/\.js$/, '.ts') === join(root, c.entry),
      );
      return chunk ? { path: `./${chunk.file}`, external: true } : undefined;
    });
  },
});

/**
 * In Lambda the role's credentials are always in the environment; the SDK's full default chain (SSO, INI, IMDS,
 * web identity, and the nested STS/SSO clients it needs) is replaced by an environment-only provider.
 */
const LAMBDA_ALIASES = { '@aws-sdk/credential-provider-node': './lambdas/aws-credentials.ts' };

export interface LambdaBundle {
  name: string;
  file: string;
  bytes: number;
  metafile: Metafile;
}

/**
 * Builds each Lambda to `<outRoot>/<name>/index.js` (+ .map and meta.json). The SDK's ES module builds are
 * preferred (`module` before `main`): they let esbuild drop every client and command a handler never reaches,
 * which the CommonJS builds do not.
 */
export async function buildLambdas(root: string, outRoot: string): Promise<LambdaBundle[]> {
  const out: LambdaBundle[] = [];
  for (const [name, entry] of Object.entries(LAMBDAS)) {
    const outdir = join(outRoot, name);
    mkdirSync(outdir, { recursive: true });
    const file = join(outdir, 'index.js');
    const result = await build({
      ...common,
      minify: true,
      metafile: true,
      mainFields: ['module', 'main'],
      plugins: [englishOnlyZod, lazyChunks(root)],
      alias: LAMBDA_ALIASES,
      absWorkingDir: root,
      entryPoints: [join(root, entry)],
      outfile: file,
    });
    for (const chunk of LAZY_CHUNKS) {
      await build({
        ...common,
        minify: true,
        mainFields: ['module', 'main'],
        plugins: [englishOnlyZod],
        alias: LAMBDA_ALIASES,
        absWorkingDir: root,
        entryPoints: [join(root, chunk.entry)],
        outfile: join(outdir, chunk.file),
      });
    }
    writeFileSync(join(outdir, 'meta.json'), JSON.stringify(result.metafile));
    out.push({ name, file, bytes: statSync(file).size, metafile: result.metafile });
  }
  return out;
}

/**
 * What is wrong with a bundle, read from its metafile: `fatal` for a forbidden package (inlined or left as a
 * run-time import), `warnings` for a size over the target.
 */
export function bundleProblems(b: LambdaBundle): { fatal: string[]; warnings: string[] } {
  const warnings =
    b.bytes > MAX_BUNDLE_BYTES
      ? [`${b.name}: ${(b.bytes / 1024).toFixed(0)} KB is over the ${MAX_BUNDLE_BYTES / 1024} KB target`]
      : [];
  const inputs = Object.keys(b.metafile.inputs);
  const imports = Object.values(b.metafile.outputs).flatMap((o) => o.imports.map((i) => i.path));
  const fatal = FORBIDDEN_IN_BUNDLES.filter((pkg) => [...inputs, ...imports].some((p) => p.includes(pkg))).map(
    (pkg) => `${b.name}: bundles ${pkg}`,
  );
  return { fatal, warnings };
}

async function main(): Promise<void> {
  const root = join(__dirname, '..');
  await build({ ...common, entryPoints: [join(root, 'cli/main.ts')], outfile: join(root, 'dist/cli/timebox.js') });
  const bundles = await buildLambdas(root, join(root, 'dist/lambdas'));
  for (const b of bundles) console.log(`dist/lambdas/${b.name}/index.js  ${(b.bytes / 1024).toFixed(0)} KB`);
  const problems = bundles.map(bundleProblems);
  for (const w of problems.flatMap((p) => p.warnings)) console.warn(`warning: ${w}`);
  const fatal = problems.flatMap((p) => p.fatal);
  if (fatal.length) throw new Error(fatal.join('\n'));
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
