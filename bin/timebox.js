#!/usr/bin/env node

// The CLI ships as an esbuild ES module bundle with chunks (built by `npm run build`, which `npm ci` runs through
// `prepare`); commands load only the chunks they use.
const path = require('node:path');
const fs = require('node:fs');
const { pathToFileURL } = require('node:url');
// The AWS SDK warns on every start under Node 20 that its releases from 2027 need Node 22; Timebox pins its SDK
// version, so the notice says nothing to a user of this CLI. An explicit setting in the environment still wins.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const bundle = path.join(__dirname, '..', 'dist', 'cli', 'timebox.mjs');
if (!fs.existsSync(bundle)) {
  process.stderr.write('timebox: the CLI is not built yet; run `npm run build` (or `npm ci`) in the project first\n');
  process.exit(2);
}
import(pathToFileURL(bundle).href)
  .then((cli) => cli.main(process.argv.slice(2)))
  .then((code) => {
    process.exitCode = code;
  });
