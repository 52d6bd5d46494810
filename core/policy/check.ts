import { formatDuration } from '../duration';
import { validateScopeAgainstTarget } from '../scope/resolve';
import { addIssues, friendly, isPlainObject, salvage, schemaProblems } from './issues';
import type { Found, Seg } from './locations';
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
import { editDistance, suggest } from './suggest';
import type { Approval, Policy, PolicySettings, Rule, Subject, Target } from './types';

/**
 * The cross-checks that need several parts of the file (references, limits, approver counts), and the assembly of
 * the `Policy`. They run on every part that parsed and skip what depends on a broken part, so one mistake does not
 * cascade into a page of noise.
 */

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

export class Checker {
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
