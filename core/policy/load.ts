import { LineCounter, parseDocument } from 'yaml';
import { Checker } from './check';
import { isPlainObject } from './issues';
import { type Found, finish, keyProblems, Locator, yamlProblem } from './locations';
import { describeValue } from './schema';
import type { Policy, PolicyProblem } from './types';

export { formatPath, formatProblem, type LocatedProblem } from './locations';

/**
 * Loads the access policy file: YAML -> schema (./schema.ts) -> cross-checks -> `Policy`.
 *
 * Every problem is collected, located (dotted path and line) and returned together, so an operator fixes a file in
 * one pass. Checks that need several parts of the file (references, limits, approver counts) run on every part
 * that parsed, and skip what depends on a broken part, so one mistake does not cascade into a page of noise.
 *
 * The parts: ./locations.ts (paths, lines, printing), ./issues.ts (schema issues worded for YAML editors),
 * ./suggest.ts ("did you mean"), ./check.ts (cross-checks and assembly).
 */

export type LoadPolicyResult =
  | { ok: true; policy: Policy; warnings: PolicyProblem[] }
  | { ok: false; problems: PolicyProblem[] };

/**
 * Alias expansions allowed per anchor, weighted by nesting (the `yaml` package's own measure). Plain reuse such as
 * `who: *oncall` costs nothing; a "billion laughs" file of nested aliases is refused before it is expanded.
 */
const MAX_ALIAS_COUNT = 100;

/** Parses and validates a policy file; on failure returns every problem found, each with its path and line. */
export function loadPolicy(text: string, opts?: { fileName?: string }): LoadPolicyResult {
  const lineCounter = new LineCounter();
  // Duplicate keys are found by `keyProblems` (./locations.ts): the parser's own check compares each key with every
  // earlier one, which is quadratic in the size of a map such as a `groups` of thousands.
  // logLevel 'error': the library would otherwise print process warnings (complex keys); those are reported here.
  const doc = parseDocument(text, {
    lineCounter,
    prettyErrors: false,
    merge: true,
    uniqueKeys: false,
    logLevel: 'error',
  });
  const locator = new Locator(doc, lineCounter);
  const found: Found[] = [];

  for (const e of doc.errors) found.push(yamlProblem(doc, lineCounter, e));
  for (const w of doc.warnings) found.push({ ...yamlProblem(doc, lineCounter, w), warning: true });
  // Syntax errors leave a document whose meaning is a guess: report them alone.
  const fatal = doc.errors.length > 0;
  if (!fatal) found.push(...keyProblems(doc, lineCounter));

  let data: unknown;
  if (!fatal) {
    try {
      data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (e) {
      // What remains to fail here is the input (alias bombs, unresolved aliases, merge keys on non-maps).
      if (!(e instanceof Error)) throw e;
      const bomb = /excessive alias count/i.test(e.message);
      found.push({
        path: [],
        message: bomb ? `YAML aliases: ${e.message} (too many nested alias expansions)` : `YAML: ${e.message}`,
      });
    }
    if (data === undefined || data === null) {
      if (!found.some((f) => !f.warning)) found.push({ path: [], message: 'the policy file is empty' });
    } else if (!isPlainObject(data)) {
      found.push({
        path: [],
        message: `the top level must be a map (version, groups, targets, rules), not ${describeValue(data)}`,
      });
    } else {
      const policy = new Checker(found).run(data);
      const errors = found.filter((f) => !f.warning);
      if (policy && errors.length === 0) {
        return { ok: true, policy, warnings: finish(found, locator, opts?.fileName) };
      }
    }
  }
  // Warnings wait for a file without errors: mixed in, they would read as reasons for the refusal.
  return {
    ok: false,
    problems: finish(
      found.filter((f) => !f.warning),
      locator,
      opts?.fileName,
    ),
  };
}
