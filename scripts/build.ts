import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type BuildOptions, build } from 'esbuild';

/**
 * Bundles the CLI and every Lambda handler with esbuild. Lambda bundles are minified CommonJS for Node 20 with
 * source maps; the AWS SDK is bundled (not taken from the runtime) so the deployed code runs exactly the pinned
 * versions that the tests ran.
 */
export const LAMBDAS: Record<string, string> = {};

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

async function main(): Promise<void> {
  const root = join(__dirname, '..');
  await build({ ...common, entryPoints: [join(root, 'cli/main.ts')], outfile: join(root, 'dist/cli/timebox.js') });
  for (const [name, entry] of Object.entries(LAMBDAS)) {
    const outdir = join(root, 'dist/lambdas', name);
    mkdirSync(outdir, { recursive: true });
    const result = await build({
      ...common,
      minify: true,
      metafile: true,
      entryPoints: [join(root, entry)],
      outfile: join(outdir, 'index.js'),
    });
    writeFileSync(join(outdir, 'meta.json'), JSON.stringify(result.metafile));
  }
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
