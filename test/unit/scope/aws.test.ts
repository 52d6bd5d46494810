import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  actionCovered,
  actionPatternProblem,
  iamPatternMatches,
  parseActionPattern,
  parseResourcePattern,
  resourceContained,
  resourcePatternProblem,
} from '../../../core/scope/aws';

describe('Function: parseActionPattern', () => {
  it.each(['s3:GetObject', 's3:Get*', 's3:*', 'S3:get*', 'ec2:Describe?nstances', 'execute-api:Invoke', 'sts:Tag*'])(
    'accepts %s',
    (p) => {
      expect(parseActionPattern(p).ok).toBe(true);
    },
  );

  it('splits the service prefix from the action', () => {
    expect(parseActionPattern('s3:Get*')).toEqual({
      ok: true,
      pattern: { source: 's3:Get*', service: 's3', action: 'Get*' },
    });
  });

  it.each([
    ['*', 'every action of every AWS service'],
    ['', 'empty'],
    ['s3', 'service:Action'],
    ['s3:', 'no action'],
    ['*:GetObject', 'wildcard in the service prefix'],
    ['s*:GetObject', 'wildcard in the service prefix'],
    ['s?:GetObject', 'wildcard in the service prefix'],
    [':GetObject', 'malformed service prefix'],
    ['s_3:GetObject', 'malformed service prefix'],
    ['s3:Get:Object', 'malformed action'],
    ['s3:Get-Object', 'malformed action'],
    ['s3:Get/Object', 'malformed action'],
    ['s3:Get\u0024{aws:username}', 'malformed action'],
    ['s3:GetObject\u0000', 'NUL'],
    ['s3:Get\tObject', 'control'],
    ['s3:Get Object', 'whitespace'],
    ['s3:GetObjéct', 'non-ASCII'],
    [`s3:${'A'.repeat(200)}`, 'longer than'],
  ])('refuses %j (%s)', (p, why) => {
    const r = parseActionPattern(p);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.message).toContain(why);
  });

  it('explains through actionPatternProblem why a bare * is refused', () => {
    expect(actionPatternProblem('*')).toMatch(/too wide|every action/);
    expect(actionPatternProblem('s3:GetObject')).toBeUndefined();
  });
});

describe('Function: parseResourcePattern', () => {
  it.each([
    'arn:aws:s3:::prod-logs',
    'arn:aws:s3:::prod-logs/*',
    'arn:aws:s3:::logs/team-a/?x',
    'arn:aws:dynamodb:us-east-1:111122223333:table/orders',
    'arn:aws:logs:*:111122223333:log-group:/aws/lambda/*',
    'arn:aws-us-gov:iam::aws:policy/ReadOnlyAccess',
    'arn:*:s3:::bucket/*',
    'arn:aws:s3:::*',
  ])('accepts %s', (p) => {
    expect(parseResourcePattern(p).ok).toBe(true);
  });

  it('splits at the first five colons and keeps the rest whole', () => {
    expect(parseResourcePattern('arn:aws:logs:us-east-1:111:log-group:/x:*')).toEqual({
      ok: true,
      pattern: {
        source: 'arn:aws:logs:us-east-1:111:log-group:/x:*',
        partition: 'aws',
        service: 'logs',
        region: 'us-east-1',
        account: '111',
        resource: 'log-group:/x:*',
      },
    });
  });

  it.each([
    ['*', 'every resource'],
    ['', 'empty'],
    ['arn:aws:s3:::\u0024{aws:username}/*', 'policy variable'],
    ['arn:aws:s3:::home/\u0024{aws:userid}', 'policy variable'],
    ['arn:aws:s3:::a\u0024{*}', 'policy variable'],
    ['arn:aws:s3:::bucket\u0000/*', 'NUL'],
    ['arn:aws:s3:::bucket/\u001b[2J', 'control'],
    ['arn:aws:s3:::bucket/a b', 'whitespace'],
    ['arn:aws:s3:::bucket/\u00e9', 'non-ASCII'],
    ['arn:aws:s3:::bucket/\u2028', 'non-ASCII'],
    ['arn:aws:s3::bucket', 'arn:partition:service:region:account:resource'],
    ['s3:::bucket/x/y/z', 'arn:partition:service:region:account:resource'],
    ['ARN:aws:s3:::bucket', "start with 'arn:'"],
    ['arn::s3:::bucket', 'partition'],
    ['arn:aws:*:::bucket', 'service segment'],
    ['arn:aws:s?:::bucket', 'service segment'],
    ['arn:aws:S3:::bucket', 'service segment'],
    ['arn:aws:s3:US-EAST-1::bucket', 'region'],
    ['arn:aws:s3::1/2:bucket', 'account'],
    ['arn:aws:s3:::', 'empty resource'],
    [`arn:aws:s3:::${'a'.repeat(1100)}`, 'longer than'],
  ])('refuses %j (%s)', (p, why) => {
    const r = parseResourcePattern(p);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.message).toContain(why);
    expect(resourcePatternProblem(p)).toBeDefined();
  });
});

describe('Function: iamPatternMatches', () => {
  it.each([
    ['s3:Get*', 's3:GetObject', true, true],
    ['s3:Get*', 'S3:getobject', true, true],
    ['s3:Get*', 'S3:getobject', false, false],
    ['s3:Get?bject', 's3:GetObject', false, true],
    ['s3:Get?bject', 's3:Getbject', false, false],
    ['arn:aws:s3:::logs/*', 'arn:aws:s3:::logs/a/b', false, true],
    ['arn:aws:s3:::logs/*', 'arn:aws:s3:::logs', false, false],
    ['arn:aws:s3:::Logs/*', 'arn:aws:s3:::logs/a', false, false],
    ['*', '', false, true],
    ['', '', false, true],
    ['', 'a', false, false],
    ['a*b*c', 'aXbYbZc', false, true],
    ['a*b*c', 'aXbYbZ', false, false],
    ['*', 'literal*star', false, true],
    ['x*', 'x*', false, true],
  ])('%s vs %s (caseInsensitive %s) is %s', (pattern, value, caseInsensitive, expected) => {
    expect(iamPatternMatches(pattern, value, { caseInsensitive })).toBe(expected);
  });

  it('stays fast on inputs that make backtracking matchers explode', () => {
    // Arrange
    const pattern = `${'a*'.repeat(200)}b`;
    const value = 'a'.repeat(5000);

    // Act
    const started = performance.now();
    const result = iamPatternMatches(pattern, value);

    // Assert
    expect(result).toBe(false);
    expect(performance.now() - started).toBeLessThan(500);
  });
});

describe('Function: actionCovered', () => {
  it.each([
    ['s3:Get*', 's3:*', true],
    ['s3:Get*', 'S3:get*', true],
    ['s3:GetObject', 's3:GetObject', true],
    ['s3:GetObject', 'S3:GETOBJECT', true],
    ['s3:GetObject', 's3:Get*', true],
    ['s3:GetObject', 's3:Get?bject', true],
    ['s3:Get?bject', 's3:Get*', true],
    ['s3:GetObject*', 's3:Get*', true],
    ['s3:Get*Tagging', 's3:Get*', true],
    ['s3:*', 's3:Get*', false],
    ['s3:Get*', 's3:GetObject', false],
    ['s3:Get*', 's3:Get?', false],
    ['s3:Get?', 's3:Get', false],
    ['s3:GetObject', 's3:PutObject', false],
    ['s3:GetObject', 'ec2:GetObject', false],
    ['s3:GetObject', 's3x:GetObject', false],
    ['s3:GetObject', '*', false],
    ['*', 's3:*', false],
    ['s3:Get Object', 's3:*', false],
  ])('%s inside %s is %s', (requested, allowed, expected) => {
    expect(actionCovered(requested, allowed)).toBe(expected);
  });
});

describe('Function: resourceContained', () => {
  it.each([
    ['arn:aws:s3:::logs/*', 'arn:aws:s3:::logs/team-a/*', false],
    ['arn:aws:s3:::logs/team-a/?x', 'arn:aws:s3:::logs/team-a/*', true],
    ['arn:aws:s3:::logs/team-a/*', 'arn:aws:s3:::logs/*', true],
    ['arn:aws:s3:::logs/team-a/x', 'arn:aws:s3:::logs/*', true],
    ['arn:aws:s3:::logs', 'arn:aws:s3:::logs/*', false],
    ['arn:aws:s3:::logs/*', 'arn:aws:s3:::logs/*', true],
    ['arn:aws:s3:::logs/*/2024/*', 'arn:aws:s3:::logs/*', true],
    ['arn:aws:s3:::logs/a/2024/*', 'arn:aws:s3:::logs/*/2024/*', true],
    ['arn:aws:s3:::logs/a*/2024/x', 'arn:aws:s3:::logs/*/2024/*', true],
    ['arn:aws:s3:::Logs/x', 'arn:aws:s3:::logs/*', false],
    ['arn:aws:s3:::logs/x', 'arn:aws:s3:::logs/?', true],
    ['arn:aws:s3:::logs/xy', 'arn:aws:s3:::logs/?', false],
    ['arn:aws:s3:::logs/*', 'arn:aws:s3:::logs/?', false],
    ['arn:aws:s3:::logs/x', 'arn:aws:ec2:::logs/x', false],
    ['arn:aws:s3:::*', 'arn:aws:s3:::logs/*', false],
    ['arn:aws:dynamodb:us-east-1:111122223333:table/orders', 'arn:aws:dynamodb:*:111122223333:table/*', true],
    ['arn:aws:dynamodb:us-east-1:111122223333:table/orders', 'arn:aws:dynamodb:us-*:111122223333:table/*', true],
    ['arn:aws:dynamodb:us-*:111122223333:table/orders', 'arn:aws:dynamodb:us-*:111122223333:table/*', true],
    ['arn:aws:dynamodb:*:111122223333:table/orders', 'arn:aws:dynamodb:us-east-1:111122223333:table/*', false],
    ['arn:aws:dynamodb:us-east-1:444455556666:table/orders', 'arn:aws:dynamodb:*:111122223333:table/*', false],
    ['arn:aws-cn:s3:::logs/x', 'arn:aws:s3:::logs/*', false],
    ['arn:aws:s3:::logs/x', 'arn:*:s3:::logs/*', true],
    ['arn:aws:logs:us-east-1:111:log-group:/a:*', 'arn:aws:logs:us-east-1:111:log-group:*', true],
    ['arn:aws:s3:::\u0024{x}', 'arn:aws:s3:::*', false],
    ['*', '*', false],
  ])('%s inside %s is %s', (requested, allowed, expected) => {
    expect(resourceContained(requested, allowed)).toBe(expected);
  });

  it('does not let an inner-segment wildcard that AWS may bound at a colon absorb a colon', () => {
    // `*` followed by `/` is not the last character of a colon-separated part, so under the strictest reading
    // of the IAM documentation it cannot span `:`; whole-string globbing alone would call this contained.
    expect(iamPatternMatches('arn:aws:s3:::logs/*/x', 'arn:aws:s3:::logs/a:b/x')).toBe(true);
    expect(resourceContained('arn:aws:s3:::logs/a:b/x', 'arn:aws:s3:::logs/*/x')).toBe(false);
    expect(resourceContained('arn:aws:s3:::logs/a:b', 'arn:aws:s3:::logs/a?b')).toBe(false);
    expect(resourceContained('arn:aws:s3:::logs/a:*', 'arn:aws:s3:::logs/*')).toBe(true);
  });

  it('does not let a region wildcard absorb what could be several ARN segments', () => {
    // Per-segment matching splits the value at its first five colons; these two are different resources.
    expect(resourceContained('arn:aws:s3:us-east-1:a:1:x', 'arn:aws:s3:*:1:x')).toBe(false);
  });

  it('is polynomial on adversarial wildcard runs', () => {
    // Arrange
    const inner = `arn:aws:s3:::${'a*'.repeat(450)}b`;
    const outer = `arn:aws:s3:::${'a*'.repeat(450)}c`;

    // Act
    const started = performance.now();
    const result = resourceContained(inner, outer);

    // Assert
    expect(result).toBe(false);
    expect(resourceContained(inner, `arn:aws:s3:::${'a*'.repeat(300)}*b`)).toBe(true);
    expect(performance.now() - started).toBeLessThan(1000);
  });
});

// ---- Properties -------------------------------------------------------------------------------------------------

const escapeRegex = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** Whole-string globbing: every wildcard spans anything, colons included. */
function regexWhole(pattern: string, flags = ''): RegExp {
  const body = [...pattern].map((c) => (c === '*' ? '[\\s\\S]*' : c === '?' ? '[\\s\\S]' : escapeRegex(c))).join('');
  return new RegExp(`^${body}$`, flags);
}

/** Colon-bounded globbing: only a `*` that ends a colon-separated part spans colons; `?` is never a colon. */
function regexColonBounded(pattern: string): RegExp {
  const chars = [...pattern];
  const body = chars
    .map((c, i) => {
      if (c === '*') return i === chars.length - 1 || chars[i + 1] === ':' ? '[\\s\\S]*' : '[^:]*';
      if (c === '?') return '[^:]';
      return escapeRegex(c);
    })
    .join('');
  return new RegExp(`^${body}$`);
}

const splitArn = (s: string): string[] | undefined => {
  const parts = s.split(':');
  if (parts.length < 6) return undefined;
  return [...parts.slice(0, 5), parts.slice(5).join(':')];
};

/** Per-segment globbing of the leading five parts, the resource part globbed whole (what iam-simulate does). */
function matchesPerSegment(pattern: string, value: string): boolean {
  const p = splitArn(pattern);
  const v = splitArn(value);
  if (!p || !v) return false;
  return p.every((seg, i) => regexWhole(seg).test(v[i] ?? ''));
}

type Semantics = 'whole' | 'segments' | 'colon-bounded';
const SEMANTICS: Semantics[] = ['whole', 'segments', 'colon-bounded'];

function refMatches(semantics: Semantics, pattern: string, value: string): boolean {
  if (semantics === 'whole') return regexWhole(pattern).test(value);
  if (semantics === 'segments') return matchesPerSegment(pattern, value);
  return regexColonBounded(pattern).test(value);
}

const FILL = ['a', 'b', '/', ':', 'x', '*'];
const FILL_NO_COLON = ['a', 'b', '/', 'x', '*'];

/**
 * Expands an ARN pattern into a concrete string the pattern matches under `semantics`, drawing choices from
 * `rand`. Colon-free expansions are used where that reading forbids a wildcard to span a colon.
 */
function sampleArn(pattern: string, semantics: Semantics, rand: number[]): string {
  let k = 0;
  const next = (): number => rand[k++ % rand.length] ?? 0;
  const chars = [...pattern];
  let colons = 0;
  let out = '';
  chars.forEach((c, i) => {
    const inLeading = colons < 5;
    const mayCross =
      semantics === 'whole' ||
      (semantics === 'segments' && !inLeading) ||
      (semantics === 'colon-bounded' && c === '*' && (i === chars.length - 1 || chars[i + 1] === ':'));
    const alphabet = mayCross ? FILL : FILL_NO_COLON;
    if (c === '*') {
      const n = next() % 4;
      for (let j = 0; j < n; j++) out += alphabet[next() % alphabet.length];
    } else if (c === '?') {
      const one = semantics === 'colon-bounded' || (semantics === 'segments' && inLeading) ? FILL_NO_COLON : FILL;
      out += one[next() % one.length];
    } else {
      if (c === ':') colons++;
      out += c;
    }
  });
  return out;
}

const pick = <T>(xs: readonly T[]) => fc.constantFrom(...xs);
const resourceTail = fc
  .array(pick(['a', 'b', '/', ':', '*', '?', 'a', 'b']), { minLength: 1, maxLength: 7 })
  .map((cs) => cs.join(''));
const arnPattern = fc
  .tuple(
    pick(['aws', 'aws', '*', 'a?s']),
    pick(['', '', 'us', '*', 'u*', '?s']),
    pick(['', '1', '1', '*', '1?']),
    resourceTail,
  )
  .map(([partition, region, account, tail]) => `arn:${partition}:s3:${region}:${account}:${tail}`);

/** An inner pattern made by narrowing the outer: each wildcard replaced by literals or other wildcards. */
const narrowedArn = (outer: string): fc.Arbitrary<string> =>
  fc.array(fc.nat(), { minLength: 32, maxLength: 32 }).map((rand) => {
    let k = 0;
    const next = (): number => rand[k++] ?? 0;
    const chars = [...outer];
    let colons = 0;
    return chars
      .map((c) => {
        if (c === ':') colons++;
        if (c === '*') {
          const options = colons < 5 ? ['*', '', 'u', 'us', '1', 'a?'] : ['*', '', 'a', 'a*', '?', 'b/*', 'a:b', '*:*'];
          return options[next() % options.length];
        }
        if (c === '?') return ['?', 'a', 's', '1', ':'][next() % 5];
        return c;
      })
      .join('');
  });

const randomStream = fc.array(fc.nat(), { minLength: 40, maxLength: 40 });

describe('Property: resourceContained is sound', () => {
  it('every ARN sampled from the inner pattern matches the outer, under each reading of IAM wildcards', () => {
    let proven = 0;
    const pair = fc.oneof(
      fc.tuple(arnPattern, arnPattern),
      arnPattern.chain((outer) => fc.tuple(narrowedArn(outer), fc.constant(outer))),
    );
    fc.assert(
      fc.property(pair, fc.array(randomStream, { minLength: 3, maxLength: 3 }), ([inner, outer], streams) => {
        if (!parseResourcePattern(inner).ok || !resourceContained(inner, outer)) return;
        proven++;
        for (const semantics of SEMANTICS) {
          for (const rand of streams) {
            const value = sampleArn(inner, semantics, rand);
            expect(refMatches(semantics, inner, value)).toBe(true);
            expect({ semantics, inner, outer, value, matches: refMatches(semantics, outer, value) }).toMatchObject({
              matches: true,
            });
          }
        }
      }),
      { numRuns: 1500 },
    );
    expect(proven).toBeGreaterThan(150);
  });
});

const actionPart = fc
  .array(pick(['a', 'A', 'b', 'B', '*', '?', 'a', 'b']), { minLength: 1, maxLength: 6 })
  .map((cs) => cs.join(''));
const actionPattern = fc
  .tuple(pick(['s3', 'S3', 's3', 'ec2']), actionPart)
  .map(([service, action]) => `${service}:${action}`);

/** Expands an action pattern into a concrete action, flipping the case of letters at random. */
function sampleAction(pattern: string, rand: number[]): string {
  let k = 0;
  const next = (): number => rand[k++ % rand.length] ?? 0;
  const flip = (c: string): string => (next() % 2 === 0 ? c.toUpperCase() : c.toLowerCase());
  let out = '';
  for (const c of pattern) {
    if (c === '*') {
      const n = next() % 4;
      for (let j = 0; j < n; j++) out += flip(['a', 'b', 'c'][next() % 3] ?? 'a');
    } else if (c === '?') {
      out += flip(['a', 'b', 'c'][next() % 3] ?? 'a');
    } else {
      out += flip(c);
    }
  }
  return out;
}

describe('Property: actionCovered is sound', () => {
  it('every action sampled from the requested pattern, in any letter case, matches the allowed pattern', () => {
    let proven = 0;
    const narrowed = actionPattern.chain((outer) =>
      fc.tuple(
        fc.array(fc.nat(), { minLength: 16, maxLength: 16 }).map((rand) => {
          let k = 0;
          return [...outer]
            .map((c) => (c === '*' ? (['*', '', 'a', 'B*', '?'][(rand[k++] ?? 0) % 5] ?? '') : c))
            .join('')
            .replace(/:$/, ':a');
        }),
        fc.constant(outer),
      ),
    );
    fc.assert(
      fc.property(
        fc.oneof(fc.tuple(actionPattern, actionPattern), narrowed),
        fc.array(randomStream, { minLength: 3, maxLength: 3 }),
        ([requested, allowed], streams) => {
          if (!actionCovered(requested, allowed)) return;
          proven++;
          for (const rand of streams) {
            const action = sampleAction(requested, rand);
            expect(iamPatternMatches(allowed, action, { caseInsensitive: true })).toBe(true);
            expect(regexWhole(allowed, 'i').test(action)).toBe(true);
          }
        },
      ),
      { numRuns: 1500 },
    );
    expect(proven).toBeGreaterThan(150);
  });
});

describe('Property: iamPatternMatches agrees with a reference regex', () => {
  const chars = pick(['a', 'b', 'A', '*', '?', ':', '/']);
  const text = fc.array(chars, { maxLength: 10 }).map((cs) => cs.join(''));
  const value = fc.array(pick(['a', 'b', 'A', 'B', ':', '/', '*']), { maxLength: 12 }).map((cs) => cs.join(''));

  it('case-sensitively and case-insensitively', () => {
    fc.assert(
      fc.property(text, value, fc.boolean(), (pattern, v, caseInsensitive) => {
        const expected = regexWhole(pattern, caseInsensitive ? 'i' : '').test(v);
        expect(iamPatternMatches(pattern, v, { caseInsensitive })).toBe(expected);
      }),
      { numRuns: 3000 },
    );
  });
});
