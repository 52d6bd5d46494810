import { Command, CommanderError } from 'commander';
import { isTimeboxError } from '../core/errors';
import { registerAccess } from './commands/access';
import { registerAudit } from './commands/audit';
import { registerCheck } from './commands/check';
import { registerGrants } from './commands/grants';
import { registerLogin } from './commands/login';
import { registerPlan } from './commands/plan';
import { registerRequest } from './commands/request';
import { registerServe } from './commands/serve';
import { registerUi } from './commands/ui';
import { CliError, EXIT } from './errors';
import { printable } from './format';
import { CLI_VERSION } from './version';

/** Builds the `timebox` command tree. Each command group registers itself; see cli/commands/. */
export function buildProgram(): Command {
  const program = new Command('timebox')
    .description('Just-in-time, time-boxed access for AWS, GCP and gRPC services')
    .version(CLI_VERSION, '-V, --version', 'print the version of timebox')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerRequest(program);
  registerGrants(program);
  registerAccess(program);
  registerLogin(program);
  registerServe(program);
  registerCheck(program);
  registerPlan(program);
  registerAudit(program);
  registerUi(program);
  return program;
}

/**
 * Runs the CLI; every failure becomes one line on stderr and an exit code, never a stack trace. The line often quotes
 * the broker or the user (a denial's reasons, a bad argument): printed through `printable`, it stays one line.
 */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Commander already printed its message (unknown option, missing argument...); help/version exit 0.
      return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (e instanceof CliError) {
      process.stderr.write(`timebox: ${printable(e.message)}\n`);
      return e.exitCode;
    }
    if (isTimeboxError(e)) {
      process.stderr.write(`timebox: ${printable(`${e.code}: ${e.message}`)}\n`);
      return EXIT.refused;
    }
    process.stderr.write(`timebox: ${printable(e instanceof Error ? e.message : String(e))}\n`);
    return EXIT.unavailable;
  }
}

// Run directly (`tsx cli/main.ts ...`); the bundle is loaded by bin/timebox.js instead, where `module` does not exist.
if (typeof module !== 'undefined' && require.main === module) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
