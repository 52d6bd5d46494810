import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { formatProblem, loadPolicy } from '../../../core/policy/load';

const PRINCIPALS = ['alice@corp.com', 'bob@corp.com', 'carol@corp.com', 'dan@corp.com', 'erin@corp.com', 'svc-ci'];
const GROUP_COUNT = 6;

/** Direct members per group; group i may only nest groups j > i, so every generated structure is acyclic. */
const groupsArbitrary = fc.tuple(
  ...Array.from({ length: GROUP_COUNT }, (_, i) =>
    fc.record({
      principals: fc.subarray(PRINCIPALS),
      nested: fc.subarray(Array.from({ length: GROUP_COUNT - i - 1 }, (_, k) => i + k + 1)),
    }),
  ),
);

type Groups = Array<{ principals: string[]; nested: number[] }>;

function policyText(groups: Groups): string {
  const lines = ['version: 1', 'groups:'];
  groups.forEach((g, i) => {
    const members = [...g.principals, ...g.nested.map((j) => `group:g${j}`)];
    lines.push(`  g${i}: [${members.join(', ')}]`);
  });
  lines.push(
    'targets:',
    '  t: { kind: grpc, audience: a, methods: [/a.B/*] }',
    'rules:',
    '  - { name: r, who: [group:g0, alice@corp.com], targets: [t], approval: auto }',
  );
  return `${lines.join('\n')}\n`;
}

function flattened(groups: Groups): Record<string, string[]> {
  const r = loadPolicy(policyText(groups));
  if (!r.ok) throw new Error(r.problems.map(formatProblem).join('\n'));
  return r.policy.groups;
}

describe('Function: loadPolicy (group flattening)', () => {
  it('matches a direct reachability computation (property)', () => {
    fc.assert(
      fc.property(groupsArbitrary, (groups) => {
        // Act
        const flat = flattened(groups);

        // Assess: a principal is in a group when it is a direct member of it or of a group it nests, transitively.
        const reach = (i: number): Set<string> => {
          const g = groups[i] as Groups[number];
          return new Set([...g.principals, ...g.nested.flatMap((j) => [...reach(j)])]);
        };
        groups.forEach((_, i) => {
          expect(flat[`g${i}`]).toEqual([...reach(i)].sort());
        });
      }),
      { numRuns: 200 },
    );
  });

  it('never adds a principal anywhere, nor changes anyone else, when it is removed from a group (property)', () => {
    fc.assert(
      fc.property(groupsArbitrary, fc.nat(), fc.nat(), (groups, gPick, pPick) => {
        // Prepare
        const g = gPick % GROUP_COUNT;
        const direct = (groups[g] as Groups[number]).principals;
        fc.pre(direct.length > 0);
        const removed = direct[pPick % direct.length] as string;
        const after = groups.map((x, i) =>
          i === g ? { ...x, principals: x.principals.filter((p) => p !== removed) } : x,
        );

        // Act
        const before = flattened(groups);
        const now = flattened(after);

        // Assess
        for (const name of Object.keys(before)) {
          const was = new Set(before[name]);
          const is = new Set(now[name]);
          if (is.has(removed)) expect(was.has(removed)).toBe(true);
          for (const other of PRINCIPALS.filter((p) => p !== removed)) expect(is.has(other)).toBe(was.has(other));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('reports a cycle, never hangs, when nesting loops back (property)', () => {
    fc.assert(
      fc.property(groupsArbitrary, fc.nat(), fc.nat(), (groups, fromPick, toPick) => {
        // Prepare: add an edge from a later group back to an earlier one that reaches it (or to itself).
        const to = toPick % GROUP_COUNT;
        const from = to + (fromPick % (GROUP_COUNT - to));
        const reaches = (i: number, target: number): boolean =>
          i === target || (groups[i] as Groups[number]).nested.some((j) => reaches(j, target));
        fc.pre(reaches(to, from));
        const looped = groups.map((x, i) => (i === from ? { ...x, nested: [...x.nested, to] } : x));

        // Act
        const r = loadPolicy(policyText(looped as Groups));

        // Assess
        expect(r.ok).toBe(false);
        if (!r.ok) expect(r.problems.some((p) => p.message.startsWith('groups form a cycle:'))).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});

describe('Function: loadPolicy (robustness)', () => {
  const example = readFileSync(join(__dirname, '../../fixtures/policies/design-example.yaml'), 'utf8').split('\n');

  it('never throws on arbitrary documents, and locates every problem (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (value) => {
        // Act
        const r = loadPolicy(stringify(value));

        // Assess
        const problems = r.ok ? r.warnings : r.problems;
        for (const p of problems) {
          expect(typeof p.path).toBe('string');
          expect(p.message.length).toBeGreaterThan(0);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('never throws when lines of the design example are dropped or swapped (property)', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.nat({ max: example.length - 1 }), { maxLength: 4 }), fc.nat(), (drop, swap) => {
        // Prepare
        const lines = example.filter((_, i) => !drop.includes(i));
        const i = swap % Math.max(1, lines.length - 1);
        [lines[i], lines[i + 1]] = [lines[i + 1] ?? '', lines[i] ?? ''];

        // Act
        const r = loadPolicy(lines.join('\n'));

        // Assess: whatever the outcome, each problem has a line inside the file.
        if (!r.ok) {
          for (const p of r.problems) if (p.line !== undefined) expect(p.line).toBeLessThanOrEqual(lines.length + 1);
        }
      }),
      { numRuns: 300 },
    );
  });
});
