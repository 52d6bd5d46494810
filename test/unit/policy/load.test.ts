import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { DAY, HOUR, MINUTE, SECOND } from '../../../core/duration';
import { formatProblem, loadPolicy } from '../../../core/policy/load';
import type { Policy } from '../../../core/policy/types';

const FIXTURES = join(__dirname, '../../fixtures/policies');
const fixture = (name: string) => readFileSync(join(FIXTURES, name), 'utf8');

/** The policy, or a test failure listing the problems. */
function policyOf(text: string): Policy {
  const r = loadPolicy(text);
  if (!r.ok) throw new Error(`expected a valid policy:\n${r.problems.map(formatProblem).join('\n')}`);
  return r.policy;
}

/** Formatted problems of a policy that must be refused. */
function problemsOf(text: string): string[] {
  const r = loadPolicy(text);
  if (r.ok) throw new Error('expected the policy to be refused');
  return r.problems.map(formatProblem);
}

function warningsOf(text: string): string[] {
  const r = loadPolicy(text);
  if (!r.ok) throw new Error(`expected a valid policy:\n${r.problems.map(formatProblem).join('\n')}`);
  return r.warnings.map(formatProblem);
}

/** Lines 1-12: groups, one target of each kind and settings; `rules:` is appended on line 13. */
const HEAD = `version: 1
groups:
  sre: [alice@corp.com, bob@corp.com]
  secops: [carol@corp.com, dan@corp.com]
targets:
  logs: { kind: aws-role, account: "111122223333", role: logs-reader, actions: [s3:GetObject, s3:ListBucket], resources: ["arn:aws:s3:::logs", "arn:aws:s3:::logs/*"], maxDuration: 2h }
  users: { kind: grpc, audience: user-service, methods: [/acme.user.v1.UserService/*, /acme.admin.*] }
  bq: { kind: gcp-role, project: acme-analytics, roles: [roles/bigquery.dataViewer, roles/bigquery.jobUser] }
settings:
  maxDuration: 8h
# rules follow from line 13 on, so a rule's fields are on lines 14 (name), 15 (who),
# 16 (targets), 17 (approval) and 18 (the next field).
`;

/** A policy with `rule` (YAML lines of one rule map, without the leading "- ") as its only rule, on line 14. */
function withRule(rule: string, extraRules = ''): string {
  const lines = rule.trim().split('\n');
  return `${HEAD}rules:\n  - ${lines.join('\n    ')}\n${extraRules}`;
}

/** The rules every other test starts from: one per target, so none is unused. */
const OTHER_RULES = `  - { name: users-all, who: [group:sre], targets: [users], approval: auto }
  - { name: bq-all, who: [group:sre], targets: [bq], approval: auto }
`;

const rule = (r: string) => withRule(r, OTHER_RULES);

describe('Function: loadPolicy', () => {
  describe('the design example', () => {
    it('loads unchanged, with no problems and no warnings', () => {
      // Act
      const r = loadPolicy(fixture('design-example.yaml'));

      // Assess
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      expect(r.warnings).toEqual([]);
      const { policy } = r;
      expect(policy.version).toBe(1);
      expect(policy.settings).toEqual({ maxDuration: 12 * HOUR, pendingTimeout: HOUR, maxStartAhead: 7 * DAY });
      expect(policy.groups).toEqual({
        sre: ['alice@corp.com', 'bob@corp.com'],
        secops: ['carol@corp.com', 'dan@corp.com'],
      });
      expect(policy.targets['prod-logs']).toEqual({
        name: 'prod-logs',
        kind: 'aws-role',
        account: '111122223333',
        role: 'timebox-prod-logs',
        actions: ['s3:GetObject', 's3:ListBucket'],
        resources: ['arn:aws:s3:::prod-logs', 'arn:aws:s3:::prod-logs/*'],
        partition: 'aws',
        maxDuration: 2 * HOUR,
      });
      expect(policy.targets['user-service']).toMatchObject({ kind: 'grpc', audience: 'user-service' });
      expect(policy.targets.analytics).toMatchObject({
        kind: 'gcp-role',
        project: 'acme-analytics',
        maxDuration: 4 * HOUR,
      });
      expect(policy.rules.map((x) => [x.name, x.index])).toEqual([
        ['sre-reads-logs', 0],
        ['admin-break-glass', 1],
        ['analysts', 2],
      ]);
    });

    it('turns each rule into the decision engine contract', () => {
      // Act
      const [reads, breakGlass, analysts] = policyOf(fixture('design-example.yaml')).rules;

      // Assess
      expect(reads).toEqual({
        name: 'sre-reads-logs',
        index: 0,
        who: [{ kind: 'group', name: 'sre' }],
        targets: ['prod-logs'],
        maxDuration: HOUR,
        approval: { kind: 'auto' },
        when: {
          hours: {
            days: [1, 2, 3, 4, 5],
            fromMinute: 480,
            toMinute: 1080,
            timeZone: 'UTC',
            source: 'Mon-Fri 08:00-18:00 UTC',
          },
          sourceIp: ['10.0.0.0/8'],
        },
        require: { mfa: false, attributes: {} },
      });
      // require.mfa binds the approvers as well as the requester.
      expect(breakGlass?.approval).toEqual({
        kind: 'approvers',
        from: [{ kind: 'group', name: 'secops' }],
        count: 2,
        requireMfa: true,
      });
      expect(breakGlass?.scopes).toEqual(['/acme.admin.*']);
      expect(breakGlass?.require).toEqual({ mfa: true, attributes: {} });
      expect(analysts?.approval).toMatchObject({ count: 1, requireMfa: false });
    });
  });

  describe('valid forms', () => {
    it('accepts every duration notation and applies settings', () => {
      // Prepare
      const text = `version: 1
settings: { maxDuration: P1D, pendingTimeout: 90s, maxStartAhead: 1d }
groups: { sre: [alice@corp.com] }
targets:
  t: { kind: grpc, audience: a, methods: [/a.B/*], maxDuration: 1h30m }
rules:
  - { name: r, who: [group:sre], targets: [t], maxDuration: PT30M, pendingTimeout: 2m, maxStartAhead: 1d, approval: auto }
`;

      // Act
      const policy = policyOf(text);

      // Assess
      expect(policy.settings).toEqual({ maxDuration: DAY, pendingTimeout: 90 * SECOND, maxStartAhead: DAY });
      expect(policy.targets.t?.maxDuration).toBe(90 * MINUTE);
      expect(policy.rules[0]).toMatchObject({
        maxDuration: 30 * MINUTE,
        pendingTimeout: 2 * MINUTE,
        maxStartAhead: DAY,
      });
    });

    it('flattens nested groups: sorted, unique, principal ids in lower case', () => {
      // Prepare
      const text = `version: 1
groups:
  all: [group:eng, group:ops, Zed@Corp.com]
  eng: [group:backend, bob@corp.com]
  backend: [Alice@corp.com, bob@corp.com]
  ops: [carol@corp.com, group:backend]
  empty: []
targets: { t: { kind: grpc, audience: a, methods: [/a.B/*] } }
rules: [{ name: r, who: [group:all, group:empty], targets: [t], approval: { from: [group:ops, ERIN@corp.com], count: 2 } }]
`;

      // Act
      const policy = policyOf(text);

      // Assess
      expect(policy.groups).toEqual({
        all: ['alice@corp.com', 'bob@corp.com', 'carol@corp.com', 'zed@corp.com'],
        eng: ['alice@corp.com', 'bob@corp.com'],
        backend: ['alice@corp.com', 'bob@corp.com'],
        ops: ['alice@corp.com', 'bob@corp.com', 'carol@corp.com'],
        empty: [],
      });
      expect(policy.rules[0]?.approval).toMatchObject({
        from: [
          { kind: 'group', name: 'ops' },
          { kind: 'principal', id: 'erin@corp.com' },
        ],
      });
    });

    it('accepts anchors, aliases and merge keys', () => {
      // Prepare
      const text = `version: 1
groups:
  sre: &oncall [alice@corp.com, bob@corp.com]
  backup: *oncall
targets:
  a: &base { kind: aws-role, account: "012345678901", role: r-a, actions: [s3:GetObject], resources: ["arn:aws:s3:::a/*"] }
  b: { <<: *base, role: r-b, partition: aws }
rules:
  - { name: r, who: *oncall, targets: [a, b], approval: auto }
`;

      // Act
      const policy = policyOf(text);

      // Assess
      expect(policy.groups.backup).toEqual(['alice@corp.com', 'bob@corp.com']);
      expect(policy.targets.b).toMatchObject({ kind: 'aws-role', account: '012345678901', role: 'r-b' });
      expect(policy.rules[0]?.who).toEqual([
        { kind: 'principal', id: 'alice@corp.com' },
        { kind: 'principal', id: 'bob@corp.com' },
      ]);
    });

    it('accepts the object form of hours, overnight windows, IPv6 and attributes', () => {
      // Prepare
      const text = rule(`name: r
who: [group:sre]
targets: [logs]
approval: { from: group:secops, count: 2, mfa: true }
when:
  hours: { days: [Sat, Sun], from: "22:00", to: "06:00", timeZone: Europe/Paris }
  sourceIp: [10.0.0.0/8, "2001:db8::/32", 192.168.1.7, "::ffff:172.16.0.0/108"]
require:
  attributes: { department: platform, "https://idp.example/claims/level": [L2, L3] }`);

      // Act
      const r = policyOf(text).rules[0];

      // Assess
      expect(r?.when).toEqual({
        hours: {
          days: [0, 6],
          fromMinute: 1320,
          toMinute: 360,
          timeZone: 'Europe/Paris',
          source: 'Sat,Sun 22:00-06:00 Europe/Paris',
        },
        sourceIp: ['10.0.0.0/8', '2001:db8::/32', '192.168.1.7/32', '172.16.0.0/12'],
      });
      expect(r?.require).toEqual({
        mfa: false,
        attributes: { department: ['platform'], 'https://idp.example/claims/level': ['L2', 'L3'] },
      });
      expect(r?.approval).toMatchObject({ requireMfa: true });
    });

    it('accepts settings.admins and settings.auditors', () => {
      // Prepare
      const text = `version: 1
settings: { admins: [group:sre], auditors: [audit@corp.com] }
groups: { sre: [alice@corp.com] }
targets: { t: { kind: grpc, audience: a, methods: [/a.B/*] } }
rules: [{ name: r, who: [group:sre], targets: [t], approval: auto }]
`;

      // Act
      const { settings } = policyOf(text);

      // Assess
      expect(settings.admins).toEqual([{ kind: 'group', name: 'sre' }]);
      expect(settings.auditors).toEqual([{ kind: 'principal', id: 'audit@corp.com' }]);
    });
  });

  describe('YAML problems', () => {
    it('reports a syntax error with its line, and nothing built on a broken document', () => {
      // Prepare
      const text = 'version: 1\ntargets:\n  x: { kind: grpc\nrules: []\n';

      // Act
      const problems = problemsOf(text);

      // Assess
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(/\(line 4\): YAML syntax: Flow map .* must .* end with a \}/);
    });

    it('reports tabs used for indentation', () => {
      expect(problemsOf('version: 1\n\ttargets: {}\n')).toEqual([
        'version (line 2): YAML syntax: Tabs are not allowed as indentation',
      ]);
    });

    it('reports every duplicate key with its line and the first one, together with schema problems', () => {
      // Prepare
      const text = `version: 1
groups:
  sre: [alice@corp.com]
  sre: [bob@corp.com]
targets:
  t: { kind: grpc, audience: a, methods: [/a.B/*], audience: b }
rules:
  - name: r
    who: [group:sre]
    targets: [t]
    approval: auto
    approval: { from: carol@corp.com, count: 1 }
    maxDuraton: 1h
`;

      // Act & Assess
      expect(problemsOf(text)).toEqual([
        'groups.sre (line 4): duplicate key "sre" (first on line 3)',
        'targets.t.audience (line 6): duplicate key "audience" (first on line 6)',
        'rules[0].approval (line 12): duplicate key "approval" (first on line 11)',
        'rules[0].maxDuraton (line 13): unknown key "maxDuraton" (did you mean "maxDuration"?)',
      ]);
    });

    it('refuses a YAML bomb quickly instead of expanding it', () => {
      // Prepare: nine levels of nine aliases would expand to 387 million strings.
      const levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
      for (const [prev, name] of [...'abcdefgh'].map((c, i) => [c, 'bcdefghi'[i] as string])) {
        levels.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(',')}]`);
      }
      const text = `version: 1\n${levels.join('\n')}\n`;

      // Act: were the aliases expanded, this would exhaust memory long before the test timeout.
      const problems = problemsOf(text);

      // Assess
      expect(problems).toEqual([expect.stringContaining('YAML aliases: Excessive alias count')]);
    });

    it('refuses an empty file, a top level that is not a map, and several documents', () => {
      expect(problemsOf('')).toEqual(['(top level): the policy file is empty']);
      expect(problemsOf('# nothing\n')).toEqual(['(top level): the policy file is empty']);
      expect(problemsOf('- a\n- b\n')).toEqual([
        '(top level) (line 1): the top level must be a map (version, groups, targets, rules), not a list',
      ]);
      expect(problemsOf('version: 1\n---\nversion: 1\n')).toEqual([
        '(top level) (line 2): a policy file holds one YAML document: remove the second "---"',
      ]);
    });
  });

  describe('unknown keys', () => {
    it.each([
      ['top level', `${HEAD}rule: []\n`, 'rule (line 13): unknown key "rule" (did you mean "rules"?)'],
      [
        'settings',
        HEAD.replace('  maxDuration: 8h', '  maxDuration: 8h\n  pendingTimout: 1h') +
          `rules:\n${OTHER_RULES}  - { name: x, who: [group:sre], targets: [logs], approval: auto }\n`,
        'settings.pendingTimout (line 11): unknown key "pendingTimout" (did you mean "pendingTimeout"?)',
      ],
      [
        'target',
        HEAD.replace('role: logs-reader,', 'role: logs-reader, regoin: eu-west-1,') +
          `rules:\n${OTHER_RULES}  - { name: x, who: [group:sre], targets: [logs], approval: auto }\n`,
        'targets.logs.regoin (line 6): unknown key "regoin" (allowed: kind, account, role, actions, resources, partition, maxDuration, description)',
      ],
      [
        'rule',
        rule('name: r\nwho: [group:sre]\ntargets: [logs]\napproval: auto\nmaxDuraton: 1h'),
        'rules[0].maxDuraton (line 18): unknown key "maxDuraton" (did you mean "maxDuration"?)',
      ],
      [
        'approval',
        rule('name: r\nwho: [group:sre]\ntargets: [logs]\napproval: { from: group:secops, count: 1, cuont: 2 }'),
        'rules[0].approval.cuont (line 17): unknown key "cuont" (did you mean "count"?)',
      ],
      [
        'when',
        rule('name: r\nwho: [group:sre]\ntargets: [logs]\napproval: auto\nwhen: { sourceIP: [10.0.0.0/8] }'),
        'rules[0].when.sourceIP (line 18): unknown key "sourceIP" (did you mean "sourceIp"?)',
      ],
      [
        'hours object',
        rule(
          'name: r\nwho: [group:sre]\ntargets: [logs]\napproval: auto\nwhen:\n  hours: { days: [Mon], from: "08:00", to: "18:00", tz: UTC }',
        ),
        'rules[0].when.hours.tz (line 19): unknown key "tz" (allowed: days, from, to, timeZone)',
      ],
      [
        'require',
        rule(
          'name: r\nwho: [group:sre]\ntargets: [logs]\napproval: auto\nrequire: { mfa: true, attribute: { team: a } }',
        ),
        'rules[0].require.attribute (line 18): unknown key "attribute" (did you mean "attributes"?)',
      ],
    ])('refuses an unknown key in %s', (_where, text, expected) => {
      expect(problemsOf(text)).toContain(expected);
    });
  });

  describe('types and values', () => {
    it.each([
      [
        'version as a string',
        'version: "1"',
        'version (line 1): must be the number 1 (this Timebox reads version 1), not the string "1"',
      ],
      [
        'another version',
        'version: 2',
        'version (line 1): must be the number 1 (this Timebox reads version 1), not the number 2',
      ],
    ])('refuses %s', (_what, line, expected) => {
      expect(
        problemsOf(
          withRule('{ name: r, who: [group:sre], targets: [logs], approval: auto }', OTHER_RULES).replace(
            'version: 1',
            line,
          ),
        ),
      ).toEqual([expected]);
    });

    it('refuses an account id YAML read as a number, explaining the lost leading zero', () => {
      // Prepare
      const text =
        HEAD.replace('account: "111122223333"', 'account: 012345678901') +
        `rules:\n${OTHER_RULES}  - { name: x, who: [group:sre], targets: [logs], approval: auto }\n`;

      // Act & Assess
      expect(problemsOf(text)).toEqual([
        'targets.logs.account (line 6): must be a quoted string: YAML read this account id as the number 12345678901, which drops leading zeros (write account: "012345678901")',
      ]);
    });

    it.each([
      ['who as a string', 'who: group:sre', 'rules[0].who (line 15): must be a list, not the string "group:sre"'],
      ['an empty who', 'who: []', 'rules[0].who (line 15): must not be empty'],
      [
        'a principal id with a space',
        'who: ["alice smith"]',
        'rules[0].who[0] (line 15): "alice smith" is not a principal id',
      ],
      [
        'a capitalised group prefix',
        'who: [Group:sre]',
        'rules[0].who[0] (line 15): "Group:sre": write the group: prefix in lower case',
      ],
      ['a bad group name', 'who: [group:SRE]', 'rules[0].who[0] (line 15): "group:SRE": a group name is 1-64 of a-z'],
    ])('refuses %s', (_what, who, expected) => {
      const problems = problemsOf(rule(`name: r\n${who}\ntargets: [logs]\napproval: auto`));
      expect(problems).toHaveLength(1);
      expect(problems[0]).toContain(expected);
    });

    it.each([
      [
        'a count as a string',
        '{ from: group:secops, count: "2" }',
        'rules[0].approval.count (line 17): must be a whole number, not the string "2"',
      ],
      ['a zero count', '{ from: group:secops, count: 0 }', 'rules[0].approval.count (line 17): must be at least 1'],
      [
        'a fractional count',
        '{ from: group:secops, count: 1.5 }',
        'rules[0].approval.count (line 17): must be a whole number',
      ],
      ['a count over 10', '{ from: group:secops, count: 11 }', 'rules[0].approval.count (line 17): must be at most 10'],
      [
        'mfa as yes',
        '{ from: group:secops, count: 1, mfa: yes }',
        'rules[0].approval.mfa (line 17): must be true or false',
      ],
      ['a missing count', '{ from: group:secops }', 'rules[0].approval.count (line 17): is required'],
      [
        'a misspelled auto',
        'aut',
        'rules[0].approval (line 17): must be auto or a map such as { from: group:secops, count: 1 }',
      ],
      ['an empty from list', '{ from: [], count: 1 }', 'rules[0].approval.from (line 17): must not be empty'],
      [
        'a bad from entry',
        '{ from: [group:secops, "a b"], count: 1 }',
        'rules[0].approval.from[1] (line 17): "a b" is not a principal id',
      ],
    ])('refuses %s', (_what, approval, expected) => {
      const problems = problemsOf(rule(`name: r\nwho: [group:sre]\ntargets: [logs]\napproval: ${approval}`));
      expect(problems).toHaveLength(1);
      expect(problems[0]).toContain(expected);
    });

    it('refuses a file without version, targets or rules, and an empty rule list', () => {
      expect(problemsOf('groups: {}\n')).toEqual([
        'version (line 1): is required (version: 1)',
        'targets (line 1): is required',
        'rules (line 1): is required',
      ]);
      expect(problemsOf('version: 1\ntargets: {}\nrules: []\n')).toEqual([
        'rules (line 3): must list at least one rule',
      ]);
    });

    it('reports a missing required key at the line of its map', () => {
      expect(problemsOf(rule('name: r\nwho: [group:sre]\ntargets: [logs]'))).toEqual([
        'rules[0].approval (line 14): is required',
      ]);
    });

    it('refuses a bad rule name and a description that is not a string', () => {
      expect(
        problemsOf(rule('name: Read_Logs\ndescription: 42\nwho: [group:sre]\ntargets: [logs]\napproval: auto')),
      ).toEqual([
        'rules[0].name (line 14): a rule name is 1-64 of a-z, 0-9, _ and -, starting with a letter or digit',
        'rules[0].description (line 15): must be a string, not the number 42',
      ]);
    });
  });

  describe('durations', () => {
    it.each([
      ['-30m', '"-30m" is negative; a duration must be longer than zero'],
      ['0m', '"0m" must be longer than zero'],
      ['400d', '"400d" is longer than the 366-day ceiling'],
      ['30', 'the bare number 30 is ambiguous (seconds? minutes?): write a duration such as "30m", "2h" or "PT30M"'],
      ['0', 'the bare number 0 is ambiguous (seconds? minutes?): write a duration such as "30m", "2h" or "PT30M"'],
      ['half an hour', '"half an hour" is not a duration (use 30m, 2h, 1h30m or ISO-8601 PT30M)'],
      ['true', 'must be a duration such as "30m" or "2h", not true'],
    ])('refuses maxDuration: %s with its path and line', (value, message) => {
      expect(
        problemsOf(rule(`name: r\nwho: [group:sre]\ntargets: [logs]\napproval: auto\nmaxDuration: ${value}`)),
      ).toEqual([`rules[0].maxDuration (line 18): ${message}`]);
    });

    it('checks durations in settings, targets and every rule field', () => {
      // Prepare
      const text = `version: 1
settings: { maxStartAhead: 2 }
groups: { sre: [alice@corp.com] }
targets: { t: { kind: grpc, audience: a, methods: [/a.B/*], maxDuration: 0s } }
rules: [{ name: r, who: [group:sre], targets: [t], approval: auto, pendingTimeout: -1h, maxStartAhead: 1y }]
`;

      // Act & Assess
      expect(problemsOf(text)).toEqual([
        'settings.maxStartAhead (line 2): the bare number 2 is ambiguous (seconds? minutes?): write a duration such as "30m", "2h" or "PT30M"',
        'targets.t.maxDuration (line 4): "0s" must be longer than zero',
        'rules[0].pendingTimeout (line 5): "-1h" is negative; a duration must be longer than zero',
        'rules[0].maxStartAhead (line 5): "1y" is not a duration (use 30m, 2h, 1h30m or ISO-8601 PT30M)',
      ]);
    });
  });

  describe('groups', () => {
    const groupsPolicy = (groups: string) => `version: 1
groups:
${groups}
targets: { t: { kind: grpc, audience: a, methods: [/a.B/*] } }
rules: [{ name: r, who: [alice@corp.com], targets: [t], approval: auto }]
`;

    it('reports a cycle once, naming its path', () => {
      // Prepare
      const text = groupsPolicy(`  a: [alice@corp.com, group:b]
  b: [group:c]
  c: [bob@corp.com, group:a]`);

      // Act & Assess
      expect(problemsOf(text)).toEqual(['groups.c[1] (line 5): groups form a cycle: a -> b -> c -> a']);
    });

    it('reports a group that contains itself', () => {
      expect(problemsOf(groupsPolicy('  a: [group:a]'))).toEqual(['groups.a[0] (line 3): groups form a cycle: a -> a']);
    });

    it('reports a missing nested group with a suggestion', () => {
      expect(problemsOf(groupsPolicy('  sre: [group:secop]\n  secops: [carol@corp.com]'))).toEqual([
        'groups.sre[0] (line 3): group "secop" is not defined (did you mean "secops"?)',
      ]);
    });

    it('refuses bad group names and members that are not a list', () => {
      expect(problemsOf(groupsPolicy('  Site_Reliability: [alice@corp.com]\n  ops: alice@corp.com'))).toEqual([
        'groups.Site_Reliability (line 3): "Site_Reliability": a group name is 1-64 of a-z, 0-9, _ and -, starting with a letter or digit (or sso:<PermissionSet>)',
        'groups.ops (line 4): must be a list of members, not the string "alice@corp.com" (write [] for none)',
      ]);
    });

    it('warns about a principal id that looks like a misspelled group reference', () => {
      expect(warningsOf(groupsPolicy('  sre: [gruop:ops]'))).toEqual([
        'groups.sre[0] (line 3): "gruop:ops" is read as a principal id; did you mean group:ops?',
      ]);
    });

    it('warns when nobody in the file can request under a rule', () => {
      // Prepare
      const text = `version: 1
groups: { later: [] }
targets: { t: { kind: grpc, audience: a, methods: [/a.B/*] } }
rules: [{ name: r, who: [group:later], targets: [t], approval: auto }]
`;

      // Act & Assess
      expect(warningsOf(text)).toEqual([
        'rules[0].who (line 4): nobody in the policy file can request under this rule (its groups are empty); only groups asserted by the identity source would match',
      ]);
    });
  });

  describe('targets', () => {
    const targetPolicy = (target: string) => `version: 1
targets:
  t:
${target
  .trim()
  .split('\n')
  .map((l) => `    ${l}`)
  .join('\n')}
rules: [{ name: r, who: [alice@corp.com], targets: [t], approval: auto }]
`;

    it.each([
      [
        'an unknown kind',
        'kind: aws\nrole: x',
        'targets.t.kind (line 4): the string "aws" is not a target kind; use one of aws-role, gcp-role, grpc',
      ],
      ['a missing kind', 'audience: a', 'targets.t.kind (line 4): is required; use one of aws-role, gcp-role, grpc'],
      [
        'a short account id',
        'kind: aws-role\naccount: "1234"\nrole: r\nactions: [s3:GetObject]\nresources: ["arn:aws:s3:::b/*"]',
        'targets.t.account (line 5): must be a 12-digit AWS account id',
      ],
      [
        'a bad role name',
        'kind: aws-role\naccount: "111122223333"\nrole: "my role"\nactions: [s3:GetObject]\nresources: ["arn:aws:s3:::b/*"]',
        'targets.t.role (line 6): must be an IAM role name',
      ],
      [
        'empty actions',
        'kind: aws-role\naccount: "111122223333"\nrole: r\nactions: []\nresources: ["arn:aws:s3:::b/*"]',
        'targets.t.actions (line 7): must not be empty',
      ],
      [
        'a bad action',
        'kind: aws-role\naccount: "111122223333"\nrole: r\nactions: [s3:GetObject, "*"]\nresources: ["arn:aws:s3:::b/*"]',
        'targets.t.actions[1] (line 7): action pattern "*" would allow every action',
      ],
      [
        'a bad resource',
        'kind: aws-role\naccount: "111122223333"\nrole: r\nactions: [s3:GetObject]\nresources: ["s3://bucket"]',
        'targets.t.resources[0] (line 8): resource pattern "s3://bucket"',
      ],
      [
        'a resource in another partition',
        'kind: aws-role\naccount: "111122223333"\nrole: r\npartition: aws-cn\nactions: [s3:GetObject]\nresources: ["arn:aws:s3:::b/*"]',
        'targets.t.resources[0] (line 9): resource "arn:aws:s3:::b/*" is in partition aws, but this target\'s partition is aws-cn',
      ],
      [
        'an unknown partition',
        'kind: aws-role\naccount: "111122223333"\nrole: r\npartition: aws-eu\nactions: [s3:GetObject]\nresources: ["arn:aws:s3:::b/*"]',
        'targets.t.partition (line 7): must be aws, aws-us-gov or aws-cn',
      ],
      [
        'a bad project id',
        'kind: gcp-role\nproject: Acme\nroles: [roles/bigquery.dataViewer]',
        'targets.t.project (line 5): must be a GCP project id',
      ],
      [
        'a basic GCP role',
        'kind: gcp-role\nproject: acme-analytics\nroles: [roles/bigquery.dataViewer, roles/editor]',
        'targets.t.roles[1] (line 6): "roles/editor" is a basic role; GCP does not allow IAM conditions on basic roles',
      ],
      [
        'a malformed GCP role',
        'kind: gcp-role\nproject: acme-analytics\nroles: [bigquery.dataViewer]',
        'targets.t.roles[0] (line 6): GCP role "bigquery.dataViewer" is not a role name',
      ],
      ['a bad gRPC method', 'kind: grpc\naudience: a\nmethods: [acme.Svc/Get]', 'targets.t.methods[0] (line 6):'],
      [
        'a bad audience',
        'kind: grpc\naudience: "a b"\nmethods: [/a.B/*]',
        'targets.t.audience (line 5): must be 1-128 of',
      ],
    ])('refuses %s', (_what, target, expected) => {
      const problems = problemsOf(targetPolicy(target));
      expect(problems).toHaveLength(1);
      expect(problems[0]).toContain(expected);
    });

    it('refuses a bad target name', () => {
      expect(
        problemsOf(targetPolicy('kind: grpc\naudience: a\nmethods: [/a.B/*]').replace('  t:', '  T_1:')),
      ).toContain(
        'targets.T_1 (line 3): "T_1": a target name is 1-63 of a-z, 0-9 and -, starting with a letter or digit',
      );
    });

    it('warns about a target no rule uses', () => {
      expect(warningsOf(withRule('{ name: r, who: [group:sre], targets: [logs, users], approval: auto }'))).toEqual([
        'targets.bq (line 8): target "bq" is not used by any rule',
      ]);
    });
  });

  describe('cross-checks', () => {
    it('refuses a reference to a target that does not exist', () => {
      expect(problemsOf(rule('name: r\nwho: [group:sre]\ntargets: [logs, user]\napproval: auto'))).toEqual([
        'rules[0].targets[1] (line 16): target "user" is not defined (did you mean "users"?)',
      ]);
    });

    it('refuses references to groups that do not exist in who and from', () => {
      expect(
        problemsOf(
          rule('name: r\nwho: [group:sre, group:dba]\ntargets: [logs]\napproval: { from: group:secop, count: 1 }'),
        ),
      ).toEqual([
        'rules[0].who[1] (line 15): group "dba" is not defined',
        'rules[0].approval.from (line 17): group "secop" is not defined (did you mean "secops"?)',
      ]);
    });

    it('refuses duplicate rule names', () => {
      expect(problemsOf(rule('name: users-all\nwho: [group:sre]\ntargets: [logs]\napproval: auto'))).toEqual([
        'rules[1].name (line 18): rule name "users-all" is already used by rules[0]; names must be unique',
      ]);
    });

    it('refuses scopes outside a target, or of another kind, and checks them against every target', () => {
      // Act
      const problems = problemsOf(
        rule(
          'name: r\nwho: [group:sre]\ntargets: [logs, users]\nscopes: [/acme.admin.*, s3:PutObject]\napproval: auto',
        ),
      );

      // Assess: each scope fails on the target it does not fit.
      expect(problems).toHaveLength(3);
      expect(problems[0]).toMatch(/^rules\[0\]\.scopes\[0\] \(line 17\): .*\(target logs\)$/);
      expect(problems[1]).toMatch(/^rules\[0\]\.scopes\[1\] \(line 17\): .*\(target logs\)$/);
      expect(problems[2]).toMatch(/^rules\[0\]\.scopes\[1\] \(line 17\): .*\(target users\)$/);
    });

    it('accepts scopes inside the target', () => {
      expect(
        policyOf(
          rule(
            'name: r\nwho: [group:sre]\ntargets: [logs]\nscopes: [s3:GetObject, "arn:aws:s3:::logs/team-a/*"]\napproval: auto',
          ),
        ).rules[0]?.scopes,
      ).toEqual(['s3:GetObject', 'arn:aws:s3:::logs/team-a/*']);
    });

    it("refuses a rule maxDuration above a target's or the global one, instead of clamping it", () => {
      expect(
        problemsOf(rule('name: r\nwho: [group:sre]\ntargets: [logs, users]\nmaxDuration: 9h\napproval: auto')),
      ).toEqual([
        "rules[0].maxDuration (line 17): 9h is above target logs's maxDuration (2h); lower the rule or raise the target (limits are never silently clamped)",
        'rules[0].maxDuration (line 17): 9h is above settings.maxDuration (8h); lower the rule or raise the setting (limits are never silently clamped)',
      ]);
    });

    it('refuses a target maxDuration above the global one', () => {
      expect(
        problemsOf(
          HEAD.replace('maxDuration: 2h', 'maxDuration: 1d') +
            `rules:\n${OTHER_RULES}  - { name: x, who: [group:sre], targets: [logs], approval: auto }\n`,
        ),
      ).toEqual([
        'targets.logs.maxDuration (line 6): 1d is above settings.maxDuration (8h); lower it or raise the setting (limits are never silently clamped)',
      ]);
    });

    it('refuses an approval count larger than the distinct approvers', () => {
      expect(
        problemsOf(
          rule(
            'name: r\nwho: [group:sre]\ntargets: [logs]\napproval: { from: [group:secops, Carol@corp.com], count: 3 }',
          ),
        ),
      ).toEqual([
        'rules[0].approval.count (line 17): needs 3 approvals but group:secops, carol@corp.com has only 2 distinct members',
      ]);
    });

    it('counts one approver fewer when a requester is also an approver (no self-approval)', () => {
      // Prepare: bob may request and approve; for his request only carol could approve.
      const text = rule(
        'name: r\nwho: [group:sre]\ntargets: [logs]\napproval: { from: [bob@corp.com, carol@corp.com], count: 2 }',
      );

      // Act & Assess
      expect(problemsOf(text)).toEqual([
        'rules[0].approval.count (line 17): needs 2 approvals but at most 1 can approve a request: bob@corp.com, carol@corp.com has 2 distinct members and bob@corp.com can also request under this rule, and nobody may approve their own request',
      ]);
    });

    it('accepts a count equal to the approvers when no requester is among them, or one less when one is', () => {
      expect(() =>
        policyOf(rule('name: r\nwho: [group:sre]\ntargets: [logs]\napproval: { from: group:secops, count: 2 }')),
      ).not.toThrow();
      expect(() =>
        policyOf(
          rule('name: r\nwho: [group:sre]\ntargets: [logs]\napproval: { from: [group:sre, carol@corp.com], count: 2 }'),
        ),
      ).not.toThrow();
    });

    it.each([
      [
        'an invalid CIDR',
        'when: { sourceIp: [10.0.0.0/33] }',
        'rules[0].when.sourceIp[0] (line 18): "10.0.0.0/33": the prefix length must be a number from 0 to 32',
      ],
      [
        'host bits',
        'when: { sourceIp: [10.0.0.0/8, 192.168.1.1/24] }',
        'rules[0].when.sourceIp[1] (line 18): "192.168.1.1/24" has host bits set',
      ],
      ['an empty sourceIp list', 'when: { sourceIp: [] }', 'rules[0].when.sourceIp (line 18): must not be empty'],
      [
        'a bad time zone',
        'when: { hours: "Mon-Fri 08:00-18:00 Europe/Pariss" }',
        'rules[0].when.hours (line 18): "Europe/Pariss" is not a time zone',
      ],
      [
        'an unknown day',
        'when: { hours: "Mon-Fre 08:00-18:00 UTC" }',
        'rules[0].when.hours (line 18): unknown day "Fre"',
      ],
      [
        'an empty window',
        'when: { hours: "Mon-Fri 08:00-08:00 UTC" }',
        'rules[0].when.hours (line 18): "Mon-Fri 08:00-08:00 UTC" starts and ends at the same time',
      ],
      [
        'hours as a number',
        'when: { hours: 9 }',
        'rules[0].when.hours (line 18): must be a string such as "Mon-Fri 08:00-18:00 UTC" or a map {days, from, to, timeZone}',
      ],
      [
        'an attribute without values',
        'require: { attributes: { team: [] } }',
        'rules[0].require.attributes.team (line 18): must not be empty',
      ],
      [
        'a bad attribute name',
        'require: { attributes: { "my team": a } }',
        'rules[0].require.attributes["my team"] (line 18): an attribute name is',
      ],
    ])('refuses %s', (_what, extra, expected) => {
      const problems = problemsOf(rule(`name: r\nwho: [group:sre]\ntargets: [logs]\napproval: auto\n${extra}`));
      expect(problems).toHaveLength(1);
      expect(problems[0]).toContain(expected);
    });

    it('points at the faulty field of an object-form hours window', () => {
      // Prepare
      const text = rule(`name: r
who: [group:sre]
targets: [logs]
approval: auto
when:
  hours:
    days: [Mon]
    from: "08:00"
    to: "18:00"
    timeZone: Mars/Base`);

      // Act & Assess
      expect(problemsOf(text)).toEqual([
        'rules[0].when.hours.timeZone (line 23): "Mars/Base" is not a time zone this runtime knows (use UTC or an IANA name such as Europe/Paris)',
      ]);
    });
  });

  describe('several problems at once', () => {
    it('reports every problem of the file, in file order, with exact lines', () => {
      // Act
      const r = loadPolicy(fixture('several-problems.yaml'), { fileName: 'several-problems.yaml' });

      // Assess
      expect(r.ok).toBe(false);
      if (r.ok) return;
      expect(r.problems.map((p) => [p.path, p.line])).toEqual([
        ['groups.sre[1]', 3],
        ['targets.prod-logs.account', 8],
        ['targets.prod-logs.maxDuration', 12],
        ['targets.analytics.roles[0]', 16],
        ['rules[0].targets[0]', 21],
        ['rules[0].maxDuraton', 22],
        ['rules[0].when.sourceIp[0]', 24],
        ['rules[1].approval.count', 28],
        ['rules[1].when.hours', 30],
        ['rules[2].name', 31],
        ['rules[2].maxDuration', 34],
      ]);
      expect(r.problems.map(formatProblem)).toEqual([
        'several-problems.yaml: groups.sre[1] (line 3): group "oncall" is not defined',
        'several-problems.yaml: targets.prod-logs.account (line 8): must be a quoted string: YAML read this account id as the number 11122223333, which drops leading zeros (write account: "012345678901")',
        'several-problems.yaml: targets.prod-logs.maxDuration (line 12): the bare number 120 is ambiguous (seconds? minutes?): write a duration such as "30m", "2h" or "PT30M"',
        'several-problems.yaml: targets.analytics.roles[0] (line 16): "roles/owner" is a basic role; GCP does not allow IAM conditions on basic roles, so a grant could not expire by itself: use a predefined or custom role',
        'several-problems.yaml: rules[0].targets[0] (line 21): target "prod-log" is not defined (did you mean "prod-logs"?)',
        'several-problems.yaml: rules[0].maxDuraton (line 22): unknown key "maxDuraton" (did you mean "maxDuration"?)',
        'several-problems.yaml: rules[0].when.sourceIp[0] (line 24): "10.0.0.1/8" has host bits set: the block /8 starts at 10.0.0.0 (write 10.0.0.0/8 if that is what you mean, or fix the prefix length)',
        'several-problems.yaml: rules[1].approval.count (line 28): needs 2 approvals but at most 1 can approve a request: group:secops has 2 distinct members and carol@corp.com can also request under this rule, and nobody may approve their own request',
        'several-problems.yaml: rules[1].when.hours (line 30): "Nowhere/City" is not a time zone this runtime knows (use UTC or an IANA name such as Europe/Paris)',
        'several-problems.yaml: rules[2].name (line 31): rule name "sre-reads-logs" is already used by rules[0]; names must be unique',
        "several-problems.yaml: rules[2].maxDuration (line 34): 4h is above target analytics's maxDuration (2h); lower the rule or raise the target (limits are never silently clamped)",
      ]);
    });
  });

  describe('scale', () => {
    // Load time is measured by `npm run bench` (policy_load_ms), never asserted here.
    it('loads 1,000 rules and 10,000 principals with every rule and member intact', () => {
      // Prepare
      const lines = ['version: 1', 'groups:'];
      for (let g = 0; g < 100; g++) {
        const members = Array.from({ length: 100 }, (_, p) => `user${g * 100 + p}@corp.com`);
        // Every tenth group nests the previous one, so flattening has work to do.
        if (g % 10 !== 0) members.push(`group:team${g - 1}`);
        lines.push(`  team${g}: [${members.join(', ')}]`);
      }
      lines.push(`  approvers: [${Array.from({ length: 20 }, (_, i) => `user${i}@corp.com`).join(', ')}]`, 'targets:');
      for (let t = 0; t < 50; t++) {
        lines.push(
          `  t${t}: { kind: aws-role, account: "111122223333", role: role-${t}, actions: [s3:GetObject, s3:ListBucket], resources: ["arn:aws:s3:::bucket-${t}", "arn:aws:s3:::bucket-${t}/*"], maxDuration: 4h }`,
        );
      }
      lines.push('rules:');
      for (let r = 0; r < 1000; r++) {
        lines.push(
          `  - name: rule-${r}`,
          `    who: [group:team${r % 100}, user${r}@corp.com]`,
          `    targets: [t${r % 50}]`,
          `    scopes: ["arn:aws:s3:::bucket-${r % 50}/team-${r}/*"]`,
          '    maxDuration: 1h',
          '    approval: { from: group:approvers, count: 2 }',
          '    when: { hours: "Mon-Fri 08:00-18:00 Europe/Paris", sourceIp: [10.0.0.0/8, "2001:db8::/32"] }',
        );
      }
      const text = lines.join('\n');

      // Act
      const result = loadPolicy(text);

      // Assess
      expect(result.ok).toBe(true);
      if (!result.ok) return;
      expect(result.policy.rules).toHaveLength(1000);
      // team9 nests team8 ... down to team1 is not nested (team0 starts a chain of ten): 9 x 100 + itself.
      expect(result.policy.groups.team9).toHaveLength(1000);
      expect(result.policy.groups.team0).toHaveLength(100);
    });
  });
});

describe('Function: formatProblem', () => {
  it('prints path, line and message, and the file name when known', () => {
    expect(formatProblem({ path: 'rules[1].approval.count', line: 12, message: 'too many' })).toBe(
      'rules[1].approval.count (line 12): too many',
    );
    expect(formatProblem({ path: '', message: 'the policy file is empty' })).toBe(
      '(top level): the policy file is empty',
    );
    expect(formatProblem({ path: 'version', line: 1, message: 'x', file: 'access.yaml' })).toBe(
      'access.yaml: version (line 1): x',
    );
  });
});
