#!/usr/bin/env node

// The CLI ships as one esbuild bundle (built by `npm run build`, which `npm ci` runs through `prepare`).
const path = require('node:path');
const fs = require('node:fs');
const bundle = path.join(__dirname, '..', 'dist', 'cli', 'timebox.js');
if (!fs.existsSync(bundle)) {
  process.stderr.write('timebox: the CLI is not built yet; run `npm run build` (or `npm ci`) in the project first\n');
  process.exit(2);
}
require(bundle)
  .main(process.argv.slice(2))
  .then((code) => {
    process.exitCode = code;
  });
