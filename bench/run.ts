/**
 * `npm run bench`: runs every section in bench/sections and prints one table of all results on stdout
 * (`--json`: one JSON object instead, and nothing else on stdout). Sections print details on stderr.
 * Exit code 1 when a section failed, 2 on a usage error.
 */
import { join } from 'node:path';
import { discoverSections, formatJson, formatTable, parseArgs, runSections, USAGE } from './lib/harness';

// Sections may spawn processes that load the AWS SDK, which prints a notice on Node 20.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

async function main(): Promise<number> {
  let args: ReturnType<typeof parseArgs>;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    return 2;
  }
  const dir = args.sections ?? join(__dirname, 'sections');
  let sections = discoverSections(dir);
  if (args.only !== undefined) {
    const wanted = sections.filter((s) => s.name === args.only);
    if (wanted.length === 0) {
      const names = sections.map((s) => s.name).join(', ') || '(none)';
      process.stderr.write(`no section "${args.only}" in ${dir}; sections: ${names}\n${USAGE}\n`);
      return 2;
    }
    sections = wanted;
  }

  // stdout carries only the table or the JSON: anything a section logs goes to stderr.
  const log = (...parts: unknown[]) => process.stderr.write(`${parts.map(String).join(' ')}\n`);
  const saved = { log: console.log, info: console.info, debug: console.debug };
  console.log = log;
  console.info = log;
  console.debug = log;
  let report: Awaited<ReturnType<typeof runSections>>;
  try {
    report = await runSections(sections, { quick: args.quick }, (line) => log(line));
  } finally {
    Object.assign(console, saved);
  }

  process.stdout.write(`${args.json ? formatJson(report) : formatTable(report)}\n`);
  return report.failed.length > 0 ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  },
);
