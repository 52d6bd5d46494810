import {
  type Document,
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  type Pair,
  parseDocument,
  type YAMLError,
  type YAMLMap,
} from 'yaml';
import { z } from 'zod';
import { formatDuration } from '../duration';
import { validateScopeAgainstTarget } from '../scope/resolve';
import { ASSERTED_GROUP_PREFIX } from './names';
import {
  DEFAULT_SETTINGS,
  describeValue,
  GROUP_PREFIX,
  GroupNameSchema,
  PolicyFileTopSchema,
  parseSubject,
  type RuleFile,
  RuleSchema,
  SettingsSchema,
  TARGET_SCHEMAS,
  TargetNameSchema,
} from './schema';
import type { Approval, Policy, PolicyProblem, PolicySettings, Rule, Subject, Target } from './types';

/**
 * Loads the access policy file: YAML -> schema (./schema.ts) -> cross-checks -> `Policy`.
 *
 * Every problem is collected, located (dotted path and line) and returned together, so an operator fixes a file in
 * one pass. Checks that need several parts of the file (references, limits, approver counts) run on every part
 * that parsed, and skip what depends on a broken part, so one mistake does not cascade into a page of noise.
 */

/** A problem with the file it came from, when the caller named one. */
export type LocatedProblem = PolicyProblem & { file?: string };

export type LoadPolicyResult =
  | { ok: true; policy: Policy; warnings: PolicyProblem[] }
  | { ok: false; problems: PolicyProblem[] };

/**
 * Alias expansions allowed per anchor, weighted by nesting (the `yaml` package's own measure). Plain reuse such as
 * `who: *oncall` costs nothing; a "billion laughs" file of nested aliases is refused before it is expanded.
 */
const MAX_ALIAS_COUNT = 100;

type Seg = string | number;
interface Found {
  path: Seg[];
  message: string;
  /** Known line (YAML errors carry offsets); otherwise found from the path. */
  line?: number;
  /** Point at the key rather than the value (unknown keys, bad names). */
  at?: 'key';
  warning?: boolean;
}

/** Parses and validates a policy file; on failure returns every problem found, each with its path and line. */
export function loadPolicy(text: string, opts?: { fileName?: string }): LoadPolicyResult {
  const lineCounter = new LineCounter();
  // Duplicate keys are found by `duplicateKeys` below: the parser's own check compares each key with every
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

/** Prints a problem as `<yaml path> (line N): <message>`, prefixed with the file name when known. */
export function formatProblem(p: LocatedProblem): string {
  const where = `${p.path || '(top level)'}${p.line === undefined ? '' : ` (line ${p.line})`}`;
  return `${p.file ? `${p.file}: ` : ''}${where}: ${p.message}`;
}

function finish(found: Found[], locator: Locator, file: string | undefined): LocatedProblem[] {
  const located = found.map((f, order) => ({ f, order, line: f.line ?? locator.line(f.path, f.at) }));
  // File order reads best; problems on the same line keep the order they were found in.
  located.sort(
    (a, b) => (a.line ?? Number.MAX_SAFE_INTEGER) - (b.line ?? Number.MAX_SAFE_INTEGER) || a.order - b.order,
  );
  return located.map(({ f, line }) => ({
    path: formatPath(f.path),
    ...(line === undefined ? {} : { line }),
    message: f.message,
    ...(file === undefined ? {} : { file }),
  }));
}

/** `rules[1].approval.count`; keys that are not plain names are quoted: `attributes["https://x/team"]`. */
export function formatPath(path: readonly Seg[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z0-9_-]+$/.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// YAML locations

function yamlProblem(doc: Document, lines: LineCounter, e: YAMLError): Found {
  if (e.code === 'MULTIPLE_DOCS') {
    return {
      path: [],
      line: lines.linePos(e.pos[0]).line,
      message: 'a policy file holds one YAML document: remove the second "---"',
    };
  }
  const message = e.message.replace(/\s+/g, ' ').trim();
  return {
    path: pathAtOffset(doc, e.pos[0]),
    line: lines.linePos(e.pos[0]).line,
    message: `YAML ${e.name === 'YAMLWarning' ? 'warning' : 'syntax'}: ${message}`,
  };
}

/**
 * Repeated keys and keys that are not scalars, in every map, in one pass over the document (aliases point at
 * nodes already visited, so they are not followed).
 */
function keyProblems(doc: Document, lines: LineCounter): Found[] {
  const out: Found[] = [];
  const lineOf = (n: unknown) => {
    const r = (n as { range?: [number, number, number] } | null | undefined)?.range;
    return r ? lines.linePos(r[0]).line : undefined;
  };
  const stack: Array<{ node: unknown; path: Seg[] }> = [{ node: doc.contents, path: [] }];
  for (let item = stack.pop(); item; item = stack.pop()) {
    const { node, path } = item;
    if (isMap(node)) {
      const seen = new Map<string, unknown>();
      for (const pair of node.items) {
        const key = keyText(pair.key);
        if (pair.key !== null && !isScalar(pair.key) && !isAlias(pair.key)) {
          out.push({
            path,
            ...(lineOf(pair.key) === undefined ? {} : { line: lineOf(pair.key) }),
            message: 'a key must be a plain string, not a list or a map',
          });
          continue;
        }
        const first = seen.get(key);
        // Several `<<` merge keys are allowed by the merge-key spec.
        if (first !== undefined && key !== '<<') {
          const firstLine = lineOf(first);
          out.push({
            path: [...path, key],
            at: 'key',
            ...(lineOf(pair.key) === undefined ? {} : { line: lineOf(pair.key) }),
            message: `duplicate key "${key}"${firstLine === undefined ? '' : ` (first on line ${firstLine})`}`,
          });
        } else if (first === undefined) seen.set(key, pair.key);
        stack.push({ node: pair.value, path: [...path, key] });
      }
    } else if (isSeq(node)) {
      node.items.forEach((child, i) => {
        stack.push({ node: child, path: [...path, i] });
      });
    }
  }
  return out;
}

/** The path of the deepest node whose source text contains `offset` (for YAML errors, which carry only offsets). */
function pathAtOffset(doc: Document, offset: number): Seg[] {
  const path: Seg[] = [];
  let node: unknown = doc.contents;
  const within = (n: unknown): boolean => {
    const r = (n as { range?: [number, number, number] } | null)?.range;
    return !!r && offset >= r[0] && offset <= r[2];
  };
  for (let depth = 0; depth < 1000; depth++) {
    if (isMap(node)) {
      const pair = node.items.find((p) => within(p.key) || within(p.value));
      if (!pair) break;
      path.push(keyText(pair.key));
      if (within(pair.key)) break;
      node = pair.value;
    } else if (isSeq(node)) {
      const i = node.items.findIndex(within);
      if (i === -1) break;
      path.push(i);
      node = node.items[i];
    } else {
      break;
    }
  }
  return path;
}

function keyText(key: unknown): string {
  if (isScalar(key)) return String(key.value);
  return key === null || key === undefined ? '' : String(key);
}

/** Finds the line of a path in the YAML, following aliases and merge keys; falls back to the nearest ancestor. */
class Locator {
  private readonly pairs = new WeakMap<YAMLMap, Map<string, Pair>>();

  constructor(
    private readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}

  line(path: readonly Seg[], at?: 'key'): number | undefined {
    let node: unknown = this.doc.contents;
    let best = this.nodeLine(node);
    for (let i = 0; i < path.length; i++) {
      const seg = path[i] as Seg;
      node = this.resolve(node);
      if (isMap(node)) {
        const pair = this.findPair(node, String(seg), 0);
        if (!pair) return best;
        const keyLine = this.nodeLine(pair.key);
        if (i === path.length - 1 && at === 'key') return keyLine ?? best;
        best = keyLine ?? best;
        node = pair.value;
      } else if (isSeq(node) && typeof seg === 'number') {
        node = node.items[seg];
      } else {
        return best;
      }
      best = this.nodeLine(node) ?? best;
    }
    return best;
  }

  private resolve(node: unknown): unknown {
    // Alias chains are short in real files; the bound only guards against a malformed document.
    for (let i = 0; i < 100 && isAlias(node); i++) node = node.resolve(this.doc);
    return node;
  }

  private findPair(map: YAMLMap, key: string, depth: number): Pair | undefined {
    let index = this.pairs.get(map);
    if (!index) {
      index = new Map();
      for (const p of map.items) if (isPair(p)) index.set(keyText(p.key), p);
      this.pairs.set(map, index);
    }
    const own = index.get(key);
    if (own || depth > 10) return own;
    // `<<: *base` merge keys: the value lives in the merged map.
    const merge = index.get('<<');
    if (!merge) return undefined;
    const sources = isSeq(merge.value) ? merge.value.items : [merge.value];
    for (const s of sources) {
      const m = this.resolve(s);
      if (isMap(m)) {
        const p = this.findPair(m, key, depth + 1);
        if (p) return p;
      }
    }
    return undefined;
  }

  private nodeLine(node: unknown): number | undefined {
    const r = (node as { range?: [number, number, number] } | null | undefined)?.range;
    return r ? this.lines.linePos(r[0]).line : undefined;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Schema issues -> problems

type Issue = z.core.$ZodIssue;

/** Messages for zod's generic issues, worded for someone editing YAML. Schema-specific messages take precedence. */
const friendly: z.core.$ZodErrorMap = (iss) => {
  const input = iss.input;
  switch (iss.code) {
    case 'invalid_type': {
      if (input === undefined) return 'is required';
      const expected = iss.expected as string;
      const what =
        expected === 'array'
          ? 'a list'
          : expected === 'object' || expected === 'record'
            ? 'a map'
            : expected === 'boolean'
              ? 'true or false'
              : expected === 'int' || expected === 'number'
                ? 'a number'
                : `a ${expected}`;
      return `must be ${what}, not ${describeValue(input)}`;
    }
    case 'too_small':
      if (iss.origin === 'array' || iss.origin === 'string') {
        return Number(iss.minimum) === 1 ? 'must not be empty' : `needs at least ${iss.minimum}`;
      }
      return `must be at least ${iss.minimum}`;
    case 'too_big':
      if (iss.origin === 'array') return `may have at most ${iss.maximum} entries`;
      if (iss.origin === 'string') return `must be at most ${iss.maximum} characters`;
      return `must be at most ${iss.maximum}`;
    case 'invalid_value':
      return `must be ${iss.values.map((v) => JSON.stringify(v)).join(' or ')}, not ${describeValue(input)}`;
    case 'invalid_format':
      return `${describeValue(input)} is not valid here`;
    default:
      return undefined;
  }
};

function schemaProblems(schema: z.ZodType, raw: unknown, prefix: readonly Seg[], found: Found[]): boolean {
  const r = schema.safeParse(raw, { reportInput: true, error: friendly });
  if (r.success) return true;
  addIssues(r.error.issues, schema, [], prefix, found);
  return false;
}

function addIssues(
  issues: readonly Issue[],
  schema: z.ZodType,
  rel: readonly Seg[],
  prefix: readonly Seg[],
  found: Found[],
) {
  for (const iss of issues) {
    const here = [...rel, ...(iss.path as Seg[])];
    const path = [...prefix, ...here];
    switch (iss.code) {
      case 'unrecognized_keys': {
        const known = knownKeysAt(schema, here);
        for (const key of iss.keys) {
          found.push({ path: [...path, key], at: 'key', message: `unknown key "${key}"${suggest(key, known, known)}` });
        }
        break;
      }
      case 'invalid_union': {
        const branch = bestBranch(iss.errors);
        if (branch) addIssues(branch, schema, here, prefix, found);
        else found.push({ path, message: iss.message });
        break;
      }
      case 'invalid_key':
        found.push({ path, at: 'key', message: iss.issues[0]?.message ?? iss.message });
        break;
      default:
        found.push({ path, message: iss.message });
    }
  }
}

/**
 * For a union where no branch matched, the branch whose type matched (its issues are about the inside of the
 * value) explains the problem; when every branch failed on the type itself, the union's own message does.
 */
function bestBranch(branches: readonly (readonly Issue[])[]): readonly Issue[] | undefined {
  const typed = branches.filter(
    (b) => !b.some((i) => i.path.length === 0 && (i.code === 'invalid_type' || i.code === 'invalid_value')),
  );
  return typed.sort((a, b) => a.length - b.length)[0];
}

/** Keys the schema allows at `path` (for "did you mean" on unknown keys). */
function knownKeysAt(schema: z.ZodType, path: readonly Seg[]): string[] {
  let current = unwrap(schema);
  for (const seg of path) {
    const next: z.ZodType[] = [];
    for (const s of current) {
      if (s instanceof z.ZodObject) {
        const child = (s.shape as Record<string, z.ZodType>)[String(seg)];
        if (child) next.push(child);
      } else if (s instanceof z.ZodArray && typeof seg === 'number') next.push(s.element as z.ZodType);
      else if (s instanceof z.ZodRecord) next.push(s.valueType as z.ZodType);
    }
    current = next.flatMap(unwrap);
  }
  return [...new Set(current.flatMap((s) => (s instanceof z.ZodObject ? Object.keys(s.shape) : [])))];
}

function unwrap(s: z.ZodType): z.ZodType[] {
  if (s instanceof z.ZodOptional || s instanceof z.ZodDefault) return unwrap(s.unwrap() as z.ZodType);
  if (s instanceof z.ZodPipe) return unwrap(s.in as z.ZodType);
  if (s instanceof z.ZodUnion) return (s.options as z.ZodType[]).flatMap(unwrap);
  return [s];
}

/** ` (did you mean "x"?)` when a candidate is a likely typo of `word`; otherwise lists what is allowed. */
function suggest(word: string, candidates: Iterable<string>, allowed?: readonly string[]): string {
  const best = closest(word, candidates);
  if (best !== undefined) return ` (did you mean "${best}"?)`;
  return allowed && allowed.length > 0 && allowed.length <= 12 ? ` (allowed: ${allowed.join(', ')})` : '';
}

function closest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  // Short words get no fuzzy match: one edit in `tz` is half the word, and `to` would be a bad guess.
  let bestDistance = Math.min(3, Math.floor(word.length / 3));
  for (const c of candidates) {
    if (Math.abs(c.length - word.length) > bestDistance) continue;
    const d = c.toLowerCase() === word.toLowerCase() ? 0 : editDistance(word, c);
    if (d <= bestDistance && (best === undefined || d < bestDistance)) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

/** Edit distance where swapping two adjacent letters ("maxDuraiton") counts as one edit, as typos do. */
function editDistance(a: string, b: string): number {
  let before: number[] = [];
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, (before[j - 2] ?? 0) + 1);
      cur[j] = d;
    }
    before = prev;
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

// ---------------------------------------------------------------------------------------------------------------
// Cross-checks and assembly

interface GroupDef {
  members: Array<{ subject: Subject; index: number }>;
  /** Some member failed to parse: membership is not known exactly, so checks that count it are skipped. */
  broken: boolean;
}

interface MemberView {
  sets: readonly ReadonlySet<string>[];
  has(id: string): boolean;
  isEmpty(): boolean;
}

const subjectKey = (subjects: readonly Subject[]): string =>
  subjects.map((s) => (s.kind === 'group' ? `${GROUP_PREFIX}${s.name}` : s.id)).join(', ');

interface RuleDraft {
  index: number;
  fields: Partial<RuleFile>;
  complete?: RuleFile;
}

class Checker {
  private readonly groups = new Map<string, GroupDef>();
  /** Flattened membership; undefined when not exactly known (broken, missing or cyclic groups). */
  private readonly flat = new Map<string, Set<string> | undefined>();
  private readonly declaredTargets = new Set<string>();
  private readonly targets = new Map<string, Target>();
  private readonly targetMaxDuration = new Map<string, number>();
  private readonly pools = new Map<string, ReadonlySet<string> | undefined>();
  private readonly overlaps = new Map<string, string | undefined>();

  constructor(private readonly found: Found[]) {}

  private error(path: Seg[], message: string, at?: 'key'): void {
    this.found.push({ path, message, ...(at ? { at } : {}) });
  }

  private warn(path: Seg[], message: string): void {
    this.found.push({ path, message, warning: true });
  }

  run(data: Record<string, unknown>): Policy | undefined {
    const topOk = schemaProblems(PolicyFileTopSchema, data, [], this.found);
    const settings = this.settings(data.settings);
    this.loadGroups(data.groups);
    this.loadTargets(data.targets);
    const drafts = Array.isArray(data.rules) ? data.rules.map((raw, index) => this.loadRule(raw, index)) : [];

    this.flattenGroups();
    this.checkSubjects(settings.subjects);
    this.checkTargets(settings.value);
    const used = new Set<string>();
    const names = new Map<string, number>();
    for (const d of drafts) this.checkRule(d, settings.value, names, used);
    for (const name of this.targets.keys()) {
      if (!used.has(name)) this.warn(['targets', name], `target "${name}" is not used by any rule`);
    }

    if (!topOk || drafts.some((d) => !d.complete)) return undefined;
    const groups: Record<string, string[]> = {};
    for (const [name, set] of this.flat) groups[name] = [...(set ?? [])].sort();
    const targets: Record<string, Target> = {};
    for (const [name, t] of this.targets) targets[name] = t;
    return {
      version: 1,
      settings: settings.value,
      groups,
      targets,
      rules: drafts.map((d) => buildRule(d.index, d.complete as RuleFile)),
    };
  }

  private settings(raw: unknown): { value: PolicySettings; subjects: Array<{ path: Seg[]; subjects: Subject[] }> } {
    const prefix: Seg[] = ['settings'];
    const parsed = raw === undefined ? undefined : salvage(SettingsSchema, raw);
    if (raw !== undefined) schemaProblems(SettingsSchema, raw, prefix, this.found);
    const value: PolicySettings = {
      maxDuration: parsed?.maxDuration ?? DEFAULT_SETTINGS.maxDuration,
      pendingTimeout: parsed?.pendingTimeout ?? DEFAULT_SETTINGS.pendingTimeout,
      maxStartAhead: parsed?.maxStartAhead ?? DEFAULT_SETTINGS.maxStartAhead,
      ...(parsed?.admins ? { admins: parsed.admins } : {}),
      ...(parsed?.auditors ? { auditors: parsed.auditors } : {}),
    };
    const subjects: Array<{ path: Seg[]; subjects: Subject[] }> = [];
    if (parsed?.admins) subjects.push({ path: [...prefix, 'admins'], subjects: parsed.admins });
    if (parsed?.auditors) subjects.push({ path: [...prefix, 'auditors'], subjects: parsed.auditors });
    return { value, subjects };
  }

  private loadGroups(raw: unknown): void {
    if (!isPlainObject(raw)) return;
    for (const [name, members] of Object.entries(raw)) {
      const path: Seg[] = ['groups', name];
      const nameCheck = GroupNameSchema.safeParse(name);
      if (!nameCheck.success) this.error(path, `"${name}": ${nameCheck.error.issues[0]?.message}`, 'key');
      const def: GroupDef = { members: [], broken: false };
      this.groups.set(name, def);
      if (!Array.isArray(members)) {
        def.broken = true;
        this.error(path, `must be a list of members, not ${describeValue(members)} (write [] for none)`);
        continue;
      }
      members.forEach((m, index) => {
        // Groups hold most entries of a large file: call the schema's own parser without zod's per-call overhead.
        const r = typeof m === 'string' ? parseSubject(m) : undefined;
        if (r?.ok) {
          def.members.push({ subject: r.subject, index });
          if (r.subject.kind === 'principal') this.checkGroupTypo([...path, index], r.subject.id);
          return;
        }
        def.broken = true;
        if (r) this.error([...path, index], r.message);
        else this.error([...path, index], `must be group:<name> or a principal id, not ${describeValue(m)}`);
      });
    }
  }

  private loadTargets(raw: unknown): void {
    if (!isPlainObject(raw)) return;
    for (const [name, value] of Object.entries(raw)) {
      const path: Seg[] = ['targets', name];
      this.declaredTargets.add(name);
      const nameCheck = TargetNameSchema.safeParse(name);
      if (!nameCheck.success) this.error(path, `"${name}": ${nameCheck.error.issues[0]?.message}`, 'key');
      if (!isPlainObject(value)) {
        this.error(path, `must be a map with kind and its settings, not ${describeValue(value)}`);
        continue;
      }
      const kinds = Object.keys(TARGET_SCHEMAS);
      const kind = value.kind;
      if (typeof kind !== 'string' || !Object.hasOwn(TARGET_SCHEMAS, kind)) {
        const got = kind === undefined ? 'is required' : `${describeValue(kind)} is not a target kind`;
        const hint = typeof kind === 'string' ? suggest(kind, kinds) : '';
        this.error([...path, 'kind'], `${got}${hint}; use one of ${kinds.join(', ')}`);
        continue;
      }
      const schema = TARGET_SCHEMAS[kind as keyof typeof TARGET_SCHEMAS];
      const r = schema.safeParse(value, { reportInput: true, error: friendly });
      if (r.success) {
        const t = { name, ...r.data } as Target;
        this.targets.set(name, t);
        if (t.maxDuration !== undefined) this.targetMaxDuration.set(name, t.maxDuration);
      } else {
        addIssues(r.error.issues, schema, [], path, this.found);
        const max = salvage(schema, value).maxDuration;
        if (typeof max === 'number') this.targetMaxDuration.set(name, max);
      }
    }
  }

  private loadRule(raw: unknown, index: number): RuleDraft {
    const r = RuleSchema.safeParse(raw, { reportInput: true, error: friendly });
    if (r.success) return { index, fields: r.data, complete: r.data };
    addIssues(r.error.issues, RuleSchema, [], ['rules', index], this.found);
    return { index, fields: salvage(RuleSchema, raw) };
  }

  /** Flattens nested groups in one depth-first pass, reporting missing groups and each cycle once. */
  private flattenGroups(): void {
    const state = new Map<string, 'active' | 'done'>();
    const uncertain = new Set<string>();
    for (const root of this.groups.keys()) {
      if (state.has(root)) continue;
      // Iterative, because a long chain of nested groups must not overflow the stack.
      const stack: Array<{ name: string; next: number }> = [{ name: root, next: 0 }];
      state.set(root, 'active');
      while (stack.length > 0) {
        const frame = stack[stack.length - 1] as { name: string; next: number };
        const def = this.groups.get(frame.name) as GroupDef;
        const member = def.members[frame.next++];
        if (member) {
          if (member.subject.kind !== 'group') continue;
          const child = member.subject.name;
          const path: Seg[] = ['groups', frame.name, member.index];
          if (!this.groups.has(child)) {
            uncertain.add(frame.name);
            this.error(path, `group "${child}" is not defined${suggest(child, this.groups.keys())}`);
          } else if (state.get(child) === 'active') {
            const from = stack.findIndex((f) => f.name === child);
            const cycle = [...stack.slice(from).map((f) => f.name), child];
            for (const f of stack.slice(from)) uncertain.add(f.name);
            this.error(path, `groups form a cycle: ${cycle.join(' -> ')}`);
          } else if (!state.has(child)) {
            state.set(child, 'active');
            stack.push({ name: child, next: 0 });
          }
          continue;
        }
        // All members visited: union the principals and the (finished) nested groups.
        stack.pop();
        state.set(frame.name, 'done');
        const set = new Set<string>();
        let known = !def.broken && !uncertain.has(frame.name);
        for (const m of def.members) {
          if (m.subject.kind === 'principal') set.add(m.subject.id);
          else if (this.groups.has(m.subject.name)) {
            const sub = this.flat.get(m.subject.name);
            if (sub === undefined) known = false;
            else for (const id of sub) set.add(id);
          }
        }
        // A group whose membership is unknown still appears (empty) so references to it are not "missing".
        this.flat.set(frame.name, known ? set : undefined);
      }
    }
  }

  /**
   * The principal sets a subject list names, without building their union (a rule's `who` may name groups of
   * thousands, and a thousand rules would copy them all). Undefined when a group in it is not exactly known.
   */
  private view(subjects: readonly Subject[]): MemberView | undefined {
    const literal = new Set<string>();
    const sets: ReadonlySet<string>[] = [literal];
    for (const s of subjects) {
      if (s.kind === 'principal') literal.add(s.id);
      else {
        const g = this.flat.get(s.name);
        if (!g) return undefined;
        sets.push(g);
      }
    }
    return { sets, has: (id) => sets.some((set) => set.has(id)), isEmpty: () => sets.every((set) => set.size === 0) };
  }

  /** The distinct principals of an approver list, cached because many rules share one `from`. */
  private pool(subjects: readonly Subject[], key: string): ReadonlySet<string> | undefined {
    if (this.pools.has(key)) return this.pools.get(key);
    const v = this.view(subjects);
    let out: Set<string> | undefined;
    if (v) {
      out = new Set<string>();
      for (const set of v.sets) for (const id of set) out.add(id);
    }
    this.pools.set(key, out);
    return out;
  }

  /** Some principal both in `who` and in the approver pool, or undefined. Cached per (who, from) pair. */
  private overlap(who: MemberView, whoKey: string, pool: ReadonlySet<string>, poolKey: string): string | undefined {
    const key = `${whoKey}\u0000${poolKey}`;
    if (this.overlaps.has(key)) return this.overlaps.get(key);
    let hit: string | undefined;
    const whoSize = who.sets.reduce((n, set) => n + set.size, 0);
    if (pool.size <= whoSize) {
      for (const id of pool) if (who.has(id)) hit ??= id;
    } else {
      for (const set of who.sets) for (const id of set) if (hit === undefined && pool.has(id)) hit = id;
    }
    this.overlaps.set(key, hit);
    return hit;
  }

  private checkSubjects(lists: Array<{ path: Seg[]; subjects: Subject[] }>): void {
    for (const { path, subjects } of lists) this.checkGroupRefs(path, subjects, true);
  }

  /** Reports `group:` references to groups that do not exist, and principal ids that look like misspelled ones. */
  private checkGroupRefs(path: Seg[], subjects: readonly Subject[], isList: boolean): boolean {
    let ok = true;
    subjects.forEach((s, i) => {
      if (s.kind === 'principal') this.checkGroupTypo(isList ? [...path, i] : path, s.id);
      else if (!this.groups.has(s.name) && !s.name.startsWith(ASSERTED_GROUP_PREFIX)) {
        ok = false;
        this.error(
          isList ? [...path, i] : path,
          `group "${s.name}" is not defined${suggest(s.name, this.groups.keys())}`,
        );
      }
    });
    return ok;
  }

  /** `grop:sre` is a valid principal id, but almost certainly meant `group:sre`: say so without refusing it. */
  private checkGroupTypo(path: Seg[], id: string): void {
    const prefix = /^([a-z]+):/.exec(id)?.[1];
    if (prefix !== undefined && editDistance(prefix, 'group') <= 2) {
      this.warn(path, `"${id}" is read as a principal id; did you mean group:${id.slice(prefix.length + 1)}?`);
    }
  }

  private checkTargets(settings: PolicySettings): void {
    for (const [name, max] of this.targetMaxDuration) {
      // A target asking for more than the global ceiling contradicts it; one of the two numbers is wrong.
      if (max > settings.maxDuration) {
        this.error(
          ['targets', name, 'maxDuration'],
          `${formatDuration(max)} is above settings.maxDuration (${formatDuration(settings.maxDuration)}); lower it or raise the setting (limits are never silently clamped)`,
        );
      }
    }
  }

  private checkRule(d: RuleDraft, settings: PolicySettings, names: Map<string, number>, used: Set<string>): void {
    const path: Seg[] = ['rules', d.index];
    const f = d.fields;
    if (f.name !== undefined) {
      const first = names.get(f.name);
      if (first === undefined) names.set(f.name, d.index);
      else
        this.error([...path, 'name'], `rule name "${f.name}" is already used by rules[${first}]; names must be unique`);
    }

    const ruleTargets: Target[] = [];
    f.targets?.forEach((name, i) => {
      used.add(name);
      if (!this.declaredTargets.has(name)) {
        this.error([...path, 'targets', i], `target "${name}" is not defined${suggest(name, this.declaredTargets)}`);
        return;
      }
      const t = this.targets.get(name);
      if (t) ruleTargets.push(t);
      const tMax = this.targetMaxDuration.get(name);
      if (f.maxDuration !== undefined && tMax !== undefined && f.maxDuration > tMax) {
        this.error(
          [...path, 'maxDuration'],
          `${formatDuration(f.maxDuration)} is above target ${name}'s maxDuration (${formatDuration(tMax)}); lower the rule or raise the target (limits are never silently clamped)`,
        );
      }
    });
    if (f.maxDuration !== undefined && f.maxDuration > settings.maxDuration) {
      this.error(
        [...path, 'maxDuration'],
        `${formatDuration(f.maxDuration)} is above settings.maxDuration (${formatDuration(settings.maxDuration)}); lower the rule or raise the setting (limits are never silently clamped)`,
      );
    }

    // A scope must fit every target of the rule: the rule grants each scope on each of them.
    f.scopes?.forEach((scope, i) => {
      for (const t of ruleTargets) {
        const msg = validateScopeAgainstTarget(t, scope);
        if (msg !== undefined) this.error([...path, 'scopes', i], `${msg} (target ${t.name})`);
      }
    });

    const whoKnown = f.who ? this.checkGroupRefs([...path, 'who'], f.who, true) : false;
    const who = f.who && whoKnown ? this.view(f.who) : undefined;
    if (who?.isEmpty()) {
      this.warn(
        [...path, 'who'],
        'nobody in the policy file can request under this rule (its groups are empty); only groups asserted by the identity source would match',
      );
    }

    const approval = f.approval;
    if (approval && approval !== 'auto') {
      const fromPath: Seg[] = [...path, 'approval', 'from'];
      const isList = Array.isArray(approval.from);
      const from = isList ? (approval.from as Subject[]) : [approval.from as Subject];
      if (!this.checkGroupRefs(fromPath, from, isList)) return;
      const fromText = subjectKey(from);
      const pool = this.pool(from, fromText);
      if (!pool) return;
      const self = who && f.who ? this.overlap(who, subjectKey(f.who), pool, fromText) : undefined;
      // Nobody approves their own request, so a requester who is also an approver leaves one approver fewer.
      const eligible = pool.size - (self === undefined ? 0 : 1);
      if (approval.count > eligible) {
        const countPath: Seg[] = [...path, 'approval', 'count'];
        const distinct = `${pool.size} distinct member${pool.size === 1 ? '' : 's'}`;
        if (self === undefined) {
          this.error(countPath, `needs ${approval.count} approvals but ${fromText} has only ${distinct}`);
        } else {
          this.error(
            countPath,
            `needs ${approval.count} approvals but at most ${eligible} can approve a request: ${fromText} has ${distinct} and ${self} can also request under this rule, and nobody may approve their own request`,
          );
        }
      }
    }
  }
}

function buildRule(index: number, f: RuleFile): Rule {
  const requireMfa = f.require?.mfa ?? false;
  let approval: Approval;
  if (f.approval === 'auto') approval = { kind: 'auto' };
  else {
    approval = {
      kind: 'approvers',
      from: Array.isArray(f.approval.from) ? f.approval.from : [f.approval.from],
      count: f.approval.count,
      // `require.mfa` also binds approvers: a request that needs MFA to make must not be approvable from a
      // weaker session than the one it protects.
      requireMfa: (f.approval.mfa ?? false) || requireMfa,
    };
  }
  return {
    name: f.name,
    index,
    ...(f.description === undefined ? {} : { description: f.description }),
    who: f.who,
    targets: f.targets,
    ...(f.scopes === undefined ? {} : { scopes: f.scopes }),
    ...(f.maxDuration === undefined ? {} : { maxDuration: f.maxDuration }),
    approval,
    when: {
      ...(f.when?.hours === undefined ? {} : { hours: f.when.hours }),
      ...(f.when?.sourceIp === undefined ? {} : { sourceIp: f.when.sourceIp }),
    },
    require: { mfa: requireMfa, attributes: f.require?.attributes ?? {} },
    ...(f.pendingTimeout === undefined ? {} : { pendingTimeout: f.pendingTimeout }),
    ...(f.maxStartAhead === undefined ? {} : { maxStartAhead: f.maxStartAhead }),
  };
}

/** The fields of an object that parse on their own, so cross-checks can run on a rule with an unrelated mistake. */
function salvage<T extends z.ZodObject>(schema: T, raw: unknown): Partial<z.output<T>> {
  const out: Record<string, unknown> = {};
  if (!isPlainObject(raw)) return out as Partial<z.output<T>>;
  for (const [key, field] of Object.entries(schema.shape as unknown as Record<string, z.ZodType>)) {
    const r = field.safeParse(raw[key]);
    if (r.success && r.data !== undefined) out[key] = r.data;
  }
  return out as Partial<z.output<T>>;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
