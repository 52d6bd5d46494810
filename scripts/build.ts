import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, sep } from 'node:path';
import { gzipSync } from 'node:zlib';
import { type BuildOptions, build, type Metafile, type Plugin } from 'esbuild';

/**
 * Bundles the CLI and every Lambda handler with esbuild. The AWS SDK is bundled (not taken from the runtime) so the
 * deployed code runs exactly the pinned versions that the tests ran.
 *
 * Each Lambda is minified ES modules with code splitting, in dist/lambdas/<name>/: `index.mjs` (the handler; Lambda's
 * Node.js runtime finds `index.handler` in index.mjs), the shared chunks it imports, and the chunks it loads only on
 * first use (lambdas/lazy.ts: GCP, STS, IAM, KMS). Splitting is what lets a lazily loaded chunk reuse the modules
 * the entry already loaded (the SDK core, core/errors' classes) instead of carrying, and loading, its own copies.
 */
export const LAMBDAS: Record<string, string> = {
  api: 'lambdas/api/index.ts',
  revoke: 'lambdas/revoke/index.ts',
  sweeper: 'lambdas/sweeper/index.ts',
  // Deployed by the Notifications component (stacks/notifications/) when Slack or signed webhooks are configured.
  notifier: 'lambdas/notifier/index.ts',
  slack: 'lambdas/slack/index.ts',
};

/**
 * Most JavaScript a function may load at a cold start (its entry and the chunks the entry imports), minified. Init
 * time grows with the code Lambda reads and compiles before the first invocation; `npm run build` fails above it.
 */
export const MAX_BUNDLE_BYTES = 400 * 1024;

/** Never in a Lambda bundle: AGPL-3.0 (verification tests only), the YAML loader, classic zod, the GCP SDK at init. */
export const FORBIDDEN_IN_BUNDLES = ['@cloud-copilot/iam-simulate'];

/**
 * Packages whose presence in the code loaded at init means a regression: the stack validates access.yaml and ships
 * JSON (core/policy/json.ts), schemas use zod/mini (adapters/zod.ts), GCP loads on first use (lambdas/lazy.ts).
 */
export const FORBIDDEN_AT_INIT = [
  'node_modules/yaml/',
  'core/policy/load.ts',
  'core/policy/schema.ts',
  'node_modules/zod/v4/classic/',
  'node_modules/google-auth-library/',
];

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
 * The SDK clients import their protocol class from the `@aws-sdk/core/protocols` index, which re-exports every
 * protocol (JSON, query, XML, CBOR). With code splitting, esbuild places a file in the chunks of every entry that
 * reaches it through an import, used or not, so the query and XML protocols of the lazily loaded STS and IAM clients
 * (about 12 KB) would load at every cold start. Importers inside the SDK get each name from the file that defines
 * it instead; the code that runs is the same.
 */
export const sdkProtocolsDirect: Plugin = {
  name: 'sdk-protocols-direct',
  setup(b) {
    let index: { dir: string; from: Map<string, string> } | undefined;
    const load = async (resolveDir: string) => {
      if (index) return index;
      const r = await b.resolve('@aws-sdk/core/protocols', { kind: 'import-statement', resolveDir });
      const from = new Map<string, string>();
      const text = readFileSync(r.path, 'utf8');
      for (const m of text.matchAll(/export \{([^}]*)\} from "([^"]+)";/g))
        for (const name of (m[1] ?? '')
          .split(',')
          .map((n) => n.trim())
          .filter(Boolean))
          from.set(name, m[2] ?? '');
      index = { dir: dirname(r.path), from };
      return index;
    };
    b.onLoad({ filter: /[\\/]node_modules[\\/]@aws-sdk[\\/].*\.js$/ }, async (args) => {
      const text = readFileSync(args.path, 'utf8');
      if (!text.includes('from "@aws-sdk/core/protocols"')) return undefined;
      const { dir, from } = await load(dirname(args.path));
      const contents = text.replace(/import \{([^}]*)\} from "@aws-sdk\/core\/protocols";/g, (whole, names: string) => {
        const list = names
          .split(',')
          .map((n) => n.trim())
          .filter(Boolean);
        if (!list.every((n) => from.has(n))) return whole;
        return list
          .map((n) => {
            const source = from.get(n) ?? '';
            // A relative source is a file of the index's folder; any other is a package the index re-exports.
            const path = source.startsWith('.') ? join(dir, `${source}.js`) : source;
            return `import { ${n} } from ${JSON.stringify(path)};`;
          })
          .join('\n');
      });
      return { contents, loader: 'js', resolveDir: dirname(args.path) };
    });
  },
};

/**
 * In Lambda the role's credentials are always in the environment; the SDK's full default chain (SSO, INI, IMDS,
 * web identity, and the nested STS/SSO clients it needs) is replaced by an environment-only provider. The
 * temporary-credentials provider (lambdas/aws-role.ts) assumes roles with the STS client the function already
 * bundles, not a second copy of it from `@aws-sdk/nested-clients` (the same generated client and command).
 */
const LAMBDA_ALIASES = {
  '@aws-sdk/credential-provider-node': './lambdas/aws-credentials.ts',
  '@aws-sdk/nested-clients/sts': '@aws-sdk/client-sts',
};

/**
 * Lambdas use one provider of `@aws-sdk/credential-providers`, `fromTemporaryCredentials`. Its index also reaches
 * the INI, SSO, login, Cognito and IMDS providers through `import()`, which esbuild bundles as chunks whether or
 * not anything calls them (about 90 KB). The package is resolved to the provider's platform-neutral module
 * instead (the one its `browser` field names): without the Node wrapper's shared-config-file region lookup and
 * default chain, it takes both from the IAM client that calls it, which in Lambda are the function's region and
 * its environment credentials anyway. Importing anything else from the package in a Lambda fails the build.
 */
export const temporaryCredentialsOnly: Plugin = {
  name: 'temporary-credentials-only',
  setup(b) {
    b.onResolve({ filter: /^@aws-sdk\/credential-providers$/ }, async (args) => {
      const index = await b.resolve('@aws-sdk/credential-providers/package.json', {
        kind: 'import-statement',
        resolveDir: args.resolveDir,
      });
      return { path: join(dirname(index.path), 'dist-es', 'fromTemporaryCredentials.base.js') };
    });
  },
};

/**
 * Heads every output file: the sources are CommonJS TypeScript and some dependencies are CommonJS, which in an ES
 * module need `require` (esbuild's shim calls it for Node built-ins).
 */
const ESM_BANNER = 'import{createRequire as __tbR}from"node:module";const require=__tbR(import.meta.url);';

/**
 * The entries read policy.json next to themselves through `__dirname`, which ES modules do not have;
 * `import.meta.dirname` (Node 20.11+) is the same directory.
 */
const ESM_DEFINE = { __dirname: 'import.meta.dirname' };

/**
 * The SDK clients import their whole package.json (2-3 KB each) to read one field, `version`, for the User-Agent
 * header. Bundled code gets a package.json holding that field alone.
 */
export const sdkVersionOnly: Plugin = {
  name: 'sdk-package-version-only',
  setup(b) {
    b.onLoad({ filter: /[\\/]node_modules[\\/]@aws-sdk[\\/][^\\/]+[\\/]package\.json$/ }, (args) => {
      const { version } = JSON.parse(readFileSync(args.path, 'utf8')) as { version: string };
      return { contents: JSON.stringify({ version }), loader: 'json' };
    });
  },
};

/** The entry file of every function: Lambda's `index.handler` resolves to it. */
export const LAMBDA_ENTRY_FILE = 'index.mjs';

export interface LambdaBundle {
  name: string;
  /** The entry, `<outRoot>/<name>/index.mjs`. */
  file: string;
  /** Bytes of the entry alone. */
  bytes: number;
  /** Bytes a cold start loads: the entry and every chunk it imports statically, transitively. */
  initBytes: number;
  /** Bytes of every JavaScript file the function ships, lazily loaded chunks included. */
  totalBytes: number;
  /** File names (in the function's directory) loaded at init, the entry first. */
  initFiles: string[];
  /** Every JavaScript file name the build wrote for the function. */
  files: string[];
  metafile: Metafile;
}

/**
 * esbuild options of a Lambda build writing into `outdir`: minified ES modules with code splitting, the SDK's ES
 * module builds preferred (`module` before `main`: they let esbuild drop every client and command a handler never
 * reaches), English-only zod, version-only SDK package.json, environment-only credentials.
 */
export function lambdaBuildOptions(root: string, outdir: string): BuildOptions {
  return {
    ...common,
    format: 'esm',
    splitting: true,
    minify: true,
    metafile: true,
    mainFields: ['module', 'main'],
    plugins: [englishOnlyZod, sdkVersionOnly, sdkProtocolsDirect, temporaryCredentialsOnly],
    alias: LAMBDA_ALIASES,
    absWorkingDir: root,
    outdir,
    outExtension: { '.js': '.mjs' },
    chunkNames: '[name]-[hash]',
    banner: { js: ESM_BANNER },
    define: ESM_DEFINE,
  };
}

/**
 * Builds each Lambda into `<outRoot>/<name>/` (entry, chunks, .map files and meta.json), after emptying that
 * directory: chunk names carry content hashes, and a stale chunk must not be deployed.
 */
export async function buildLambdas(root: string, outRoot: string): Promise<LambdaBundle[]> {
  const out: LambdaBundle[] = [];
  for (const [name, entry] of Object.entries(LAMBDAS)) {
    const outdir = join(outRoot, name);
    rmSync(outdir, { recursive: true, force: true });
    mkdirSync(outdir, { recursive: true });
    const result = await build({ ...lambdaBuildOptions(root, outdir), entryPoints: { index: join(root, entry) } });
    writeFileSync(join(outdir, 'meta.json'), JSON.stringify(result.metafile));
    out.push(describeBundle(name, outdir, result.metafile as Metafile));
  }
  return out;
}

/** Sizes and files of one function's build, read from its metafile. */
export function describeBundle(name: string, outdir: string, metafile: Metafile): LambdaBundle {
  const js = Object.entries(metafile.outputs).filter(([path]) => path.endsWith('.mjs'));
  const byFile = new Map(js.map(([path, o]) => [basename(path), o]));
  // Lazily loaded chunks are entry points too (of their `import()`); the function's entry is index.mjs.
  const entry = js.find(([path]) => basename(path) === LAMBDA_ENTRY_FILE);
  if (!entry) throw new Error(`${name}: the build wrote no ${LAMBDA_ENTRY_FILE}`);
  const initFiles: string[] = [];
  const visit = (file: string) => {
    if (initFiles.includes(file)) return;
    initFiles.push(file);
    for (const i of byFile.get(file)?.imports ?? [])
      if (i.kind === 'import-statement' && byFile.has(basename(i.path))) visit(basename(i.path));
  };
  visit(basename(entry[0]));
  const size = (files: string[]) => files.reduce((n, f) => n + (byFile.get(f)?.bytes ?? 0), 0);
  const files = [...byFile.keys()];
  return {
    name,
    file: join(outdir, basename(entry[0])),
    bytes: entry[1].bytes,
    initBytes: size(initFiles),
    totalBytes: size(files),
    initFiles,
    files,
    metafile,
  };
}

/** Source files and packages with code in the given output files of a bundle (tree-shaken ones left out). */
function inputsOf(b: LambdaBundle, files: string[]): string[] {
  return Object.entries(b.metafile.outputs)
    .filter(([path]) => files.includes(basename(path)))
    .flatMap(([, o]) => Object.entries(o.inputs).filter(([, i]) => i.bytesInOutput > 0))
    .map(([path]) => path);
}

/**
 * What is wrong with a bundle, read from its metafile, each one fatal: a forbidden package anywhere (inlined or
 * left as a run-time import), one that must not load at init in the entry or its static chunks, or more than
 * MAX_BUNDLE_BYTES loaded at init.
 */
export function bundleProblems(b: LambdaBundle): string[] {
  const all = [
    ...inputsOf(b, b.files),
    ...Object.values(b.metafile.outputs).flatMap((o) => o.imports.map((i) => i.path)),
  ];
  const atInit = inputsOf(b, b.initFiles);
  return [
    ...FORBIDDEN_IN_BUNDLES.filter((pkg) => all.some((p) => p.includes(pkg))).map((pkg) => `${b.name}: bundles ${pkg}`),
    ...FORBIDDEN_AT_INIT.filter((part) => atInit.some((p) => p.includes(part))).map(
      (part) => `${b.name}: loads ${part.replace(/^node_modules\//, '').replace(/\/$/, '')} at init`,
    ),
    ...(b.initBytes > MAX_BUNDLE_BYTES
      ? [`${b.name}: ${kb(b.initBytes)} KB loaded at init is over the ${MAX_BUNDLE_BYTES / 1024} KB limit`]
      : []),
  ];
}

/** Kilobytes, rounded to one decimal: what the build and the benchmark print. */
export function kb(bytes: number): string {
  return (bytes / 1024).toFixed(1);
}

/** The CLI entry file, loaded by bin/timebox.js. */
export const CLI_ENTRY_FILE = 'timebox.mjs';

/**
 * Builds the CLI into `outdir`: an ES module with code splitting, so a command loads only what it uses. The local
 * broker (dynalite, the HTTP server, the SDK) and the notifiers are reached through dynamic imports in `serve`, so
 * they sit in chunks that `credential-process`, run by the AWS CLI on every refresh, never reads.
 */
export async function buildCli(root: string, outdir: string): Promise<void> {
  rmSync(outdir, { recursive: true, force: true });
  await build({
    ...common,
    format: 'esm',
    splitting: true,
    minify: true,
    mainFields: ['module', 'main'],
    plugins: [englishOnlyZod],
    absWorkingDir: root,
    outdir,
    entryPoints: { timebox: join(root, 'cli/main.ts') },
    outExtension: { '.js': '.mjs' },
    chunkNames: 'chunks/[name]-[hash]',
    banner: { js: ESM_BANNER },
    define: { __dirname: 'import.meta.dirname', __filename: 'import.meta.filename' },
  });
}

/** Most JavaScript the web console may ship, gzipped: `npm run build` fails above it. */
export const MAX_WEB_GZIP_BYTES = 100 * 1024;

export interface WebBundle {
  jsBytes: number;
  jsGzipBytes: number;
  cssBytes: number;
  cssGzipBytes: number;
}

/**
 * Builds the web console into `outdir`: one minified script (Preact and the pages, nothing fetched at run time), its
 * stylesheet and the page. The page loads only same-origin files, so the strict CSP the servers send fits it.
 */
export async function buildWeb(root: string, outdir: string): Promise<WebBundle> {
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });
  await build({
    bundle: true,
    platform: 'browser',
    format: 'iife',
    target: ['chrome110', 'firefox110', 'safari16'],
    minify: true,
    legalComments: 'none',
    logLevel: 'warning',
    jsx: 'automatic',
    jsxImportSource: 'preact',
    absWorkingDir: root,
    tsconfig: join(root, 'web/tsconfig.json'),
    entryPoints: [join(root, 'web/main.tsx')],
    outfile: join(outdir, 'app.js'),
  });
  copyFileSync(join(root, 'web/index.html'), join(outdir, 'index.html'));
  await build({
    bundle: true,
    minify: true,
    logLevel: 'warning',
    absWorkingDir: root,
    entryPoints: [join(root, 'web/app.css')],
    outfile: join(outdir, 'app.css'),
  });
  const js = readFileSync(join(outdir, 'app.js'));
  const css = readFileSync(join(outdir, 'app.css'));
  return {
    jsBytes: js.length,
    jsGzipBytes: gzipSync(js, { level: 9 }).length,
    cssBytes: css.length,
    cssGzipBytes: gzipSync(css, { level: 9 }).length,
  };
}

async function main(): Promise<void> {
  const root = join(__dirname, '..');
  await buildCli(root, join(root, 'dist/cli'));
  const web = await buildWeb(root, join(root, 'dist/web'));
  console.log(
    `dist/web/  app.js ${kb(web.jsBytes)} KB (${kb(web.jsGzipBytes)} KB gzipped, budget ${MAX_WEB_GZIP_BYTES / 1024} KB), ` +
      `app.css ${kb(web.cssBytes)} KB (${kb(web.cssGzipBytes)} KB gzipped)`,
  );
  if (web.jsGzipBytes > MAX_WEB_GZIP_BYTES)
    throw new Error(`web: ${kb(web.jsGzipBytes)} KB gzipped is over the ${MAX_WEB_GZIP_BYTES / 1024} KB budget`);
  const bundles = await buildLambdas(root, join(root, 'dist/lambdas'));
  for (const b of bundles)
    console.log(
      `dist/lambdas/${b.name}/  entry ${kb(b.bytes)} KB, at init ${kb(b.initBytes)} KB (${b.initFiles.length} files), ` +
        `all ${kb(b.totalBytes)} KB (${b.files.length} files)`,
    );
  const problems = bundles.flatMap(bundleProblems);
  if (problems.length) throw new Error(problems.join('\n'));
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
