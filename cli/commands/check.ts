import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { compilePolicy } from '../../core/policy/compile';
import type { Policy } from '../../core/policy/types';
import { CliError, EXIT } from '../errors';

/** The policy loader (the YAML parser and zod) loads only for the commands that read a policy file. */
const policyLoader = () => import('../../core/policy/load.js');

/** Reads and validates a policy file, or throws a CliError naming the file and every problem. */
export async function readPolicyFile(file: string): Promise<Policy> {
  const { formatProblem, loadPolicy } = await policyLoader();
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new CliError(`cannot read policy file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const loaded = loadPolicy(text, { fileName: file });
  if (!loaded.ok) throw new CliError(loaded.problems.map(formatProblem).join('\n'), EXIT.usage);
  return loaded.policy;
}

export function registerCheck(program: Command): void {
  program
    .command('check')
    .description('validate an access policy file: exit 0 when valid, 1 with one line per problem')
    .requiredOption('-c, --config <file>', 'access policy file')
    .option('--json', 'print {valid, problems, warnings} as JSON')
    .action(async (opts: { config: string; json?: boolean }) => {
      const { formatProblem, loadPolicy } = await policyLoader();
      let text: string;
      try {
        text = readFileSync(opts.config, 'utf8');
      } catch (e) {
        throw new CliError(
          `cannot read policy file ${opts.config}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
        );
      }
      const loaded = loadPolicy(text, { fileName: opts.config });
      if (opts.json) {
        process.stdout.write(
          `${JSON.stringify(loaded.ok ? { valid: true, problems: [], warnings: loaded.warnings } : { valid: false, problems: loaded.problems, warnings: [] })}\n`,
        );
      } else if (loaded.ok) {
        const p = compilePolicy(loaded.policy).policy;
        process.stdout.write(
          `${opts.config}: valid (${Object.keys(p.groups).length} groups, ${Object.keys(p.targets).length} targets, ${p.rules.length} rules)\n`,
        );
        for (const w of loaded.warnings) process.stderr.write(`warning: ${formatProblem(w)}\n`);
      } else {
        for (const p of loaded.problems) process.stdout.write(`${formatProblem(p)}\n`);
      }
      process.exitCode = loaded.ok ? EXIT.ok : EXIT.failed;
    });
}
