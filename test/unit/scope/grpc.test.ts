import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  compileMethodMatcher,
  type GrpcPattern,
  isValidMethodPath,
  methodMatches,
  methodPatternWithin,
  parseMethodPattern,
} from '../../../core/scope/grpc';

describe('Function: parseMethodPattern', () => {
  it.each([
    ['/acme.user.v1.UserService/GetUser', 'exact'],
    ['/acme.user.v1.UserService/*', 'service'],
    ['/acme.admin.*', 'package'],
    ['/acme.*', 'package'],
    ['/service/admin/*', 'path'],
    ['/service/*', 'service'],
    ['/service/admin/Delete', 'exact'],
    ['/my_pkg.v2.Svc-1/Do_It', 'exact'],
  ])('accepts %s as %s', (input, kind) => {
    // Act
    const r = parseMethodPattern(input);

    // Assert
    expect(r.ok && r.pattern.kind).toBe(kind);
  });

  it('records the prefix at a segment boundary for each wildcard form', () => {
    expect(parseMethodPattern('/acme.admin.*')).toEqual({
      ok: true,
      pattern: { kind: 'package', source: '/acme.admin.*', package: 'acme.admin', prefix: '/acme.admin.' },
    });
    expect(parseMethodPattern('/service/admin/*')).toEqual({
      ok: true,
      pattern: { kind: 'path', source: '/service/admin/*', segments: ['service', 'admin'], prefix: '/service/admin/' },
    });
    expect(parseMethodPattern('/pkg.Svc/*')).toEqual({
      ok: true,
      pattern: { kind: 'service', source: '/pkg.Svc/*', service: 'pkg.Svc', prefix: '/pkg.Svc/' },
    });
  });

  it.each([
    ['', 'empty'],
    ['*', 'every method'],
    ['/*', 'every method'],
    ['acme.admin.*', "start with '/'"],
    ['pkg.Svc/Get', "start with '/'"],
    ['/pkg.Svc/../Admin/Get', "'..'"],
    ['/pkg.Svc/..', "'..'"],
    ['/acme..admin.*', "'..'"],
    ['/a..b.Svc/Get', "'..'"],
    ['/pkg.Svc//Get', 'empty segment'],
    ['//pkg.Svc/Get', 'empty segment'],
    ['/pkg.Svc/', "ends with '/'"],
    ['/service/admin/', "ends with '/'"],
    ['/pkg.Svc/Get\u0000', 'NUL'],
    ['/pkg.Svc/Ge\u0000t', 'NUL'],
    ['/pkg.Svc/Get\n', 'control'],
    ['/pkg.Svc/\tGet', 'control'],
    ['/pkg.Svc/Get\u007f', 'control'],
    ['/pkg.Svc/Get All', 'whitespace'],
    [' /pkg.Svc/Get', 'whitespace'],
    ['/pkg.Svc/Gét', 'non-ASCII'],
    ['/\u0430cme.admin.*', 'non-ASCII'],
    ['/pkg.Svc/Get\u200b', 'non-ASCII'],
    ['/*/Get', "'*' before the last segment"],
    ['/pkg.*/Get', "'*' before the last segment"],
    ['/pkg.Svc/Get*', "'*' inside a name"],
    ['/pkg.S*c/Get', "'*' before the last segment"],
    ['/acme.adm*', "'*' inside a name"],
    ['/*.*', "'*' before the end"],
    ['/a/b.*', "'.*' after the service name"],
    ['/.*', 'malformed package name'],
    ['/pkg.Svc', 'no method'],
    ['/pkg.Svc/Get.', 'malformed segment'],
    ['/pkg.Svc/.Get', 'malformed segment'],
    ['/pkg.Svc/Get%2F..', 'not allowed'],
    ['/pkg.Svc/Get?', 'not allowed'],
    ['/pkg:Svc/Get', 'not allowed'],
    [`/pkg.Svc/${'a'.repeat(600)}`, 'longer than'],
  ])('refuses %j (%s)', (input, why) => {
    // Act
    const r = parseMethodPattern(input);

    // Assert
    expect(r.ok).toBe(false);
    expect(!r.ok && r.message).toContain(why);
  });

  it('quotes the refused pattern so control characters cannot reach logs raw', () => {
    const r = parseMethodPattern('/pkg.Svc/Get\n');
    expect(!r.ok && r.message).toContain('"/pkg.Svc/Get\\n"');
  });
});

describe('Function: isValidMethodPath', () => {
  it.each(['/pkg.Svc/Get', '/acme.user.v1.UserService/GetUser', '/service/admin/Delete', '/a/b', '/a/b/c/d'])(
    'accepts %s',
    (path) => {
      expect(isValidMethodPath(path)).toBe(true);
    },
  );

  it.each([
    '',
    '/',
    '/pkg.Svc',
    'pkg.Svc/Get',
    '/pkg.Svc/',
    '/pkg.Svc//Get',
    '/pkg.Svc/../Get',
    '/pkg..Svc/Get',
    '/pkg.Svc/Get\u0000',
    '/pkg.Svc/Get ',
    '/pkg.Svc/Gét',
    '/pkg.Svc/*',
    '/acme.admin.*',
    '/pkg.Svc/Get?x=1',
    `/pkg.Svc/${'a'.repeat(1100)}`,
  ])('refuses %j', (path) => {
    expect(isValidMethodPath(path)).toBe(false);
  });
});

describe('Function: methodMatches', () => {
  it.each([
    ['/acme.admin.*', '/acme.admin.V1/X', true],
    ['/acme.admin.*', '/acme.admin.v1.AuditService/List', true],
    ['/acme.admin.*', '/acme.adminx.V1/X', false],
    ['/acme.admin.*', '/acme.admin/X', false],
    ['/acme.admin.*', '/acme.admin.V1', false],
    ['/acme.admin.*', '/acme.Admin.V1/X', false],
    ['/acme.admin.*', '/xacme.admin.V1/X', false],
    ['/service/admin/*', '/service/admin/Delete', true],
    ['/service/admin/*', '/service/admin/users/Delete', true],
    ['/service/admin/*', '/service/adminX/Y', false],
    ['/service/admin/*', '/service/admin', false],
    ['/service/admin/*', '/service/admin/', false],
    ['/service/admin/*', '/service/admin.x/Y', false],
    ['/pkg.Svc/Get', '/pkg.Svc/Get', true],
    ['/pkg.Svc/Get', '/pkg.Svc/GetAll', false],
    ['/pkg.Svc/Get', '/pkg.Svc/Get/', false],
    ['/pkg.Svc/Get', '/pkg.Svc/get', false],
    ['/pkg.Svc/Get', '/pkg.svc/Get', false],
    ['/pkg.Svc/*', '/pkg.Svc/Get', true],
    ['/pkg.Svc/*', '/pkg.SvcAdmin/Get', false],
    ['/pkg.Svc/*', '/pkg.Svc.Admin/Get', false],
    ['/acme.admin.*', '/acme.admin.V1/../../etc/passwd', false],
    ['/acme.admin.*', '/acme.admin.V1/X\u0000', false],
    ['/acme.admin.*', '/acme.admin.V1/X ', false],
    ['/acme.admin.*', '/acme.admin..V1/X', false],
    ['/service/admin/*', '/service/admin//Delete', false],
    ['/*', '/pkg.Svc/Get', false],
    ['*', '/pkg.Svc/Get', false],
    ['/pkg.Svc/Get\u0000', '/pkg.Svc/Get\u0000', false],
  ])('%s against %j is %s', (pattern, path, expected) => {
    expect(methodMatches(pattern, path)).toBe(expected);
  });

  it('accepts a parsed pattern and gives the same answers', () => {
    // Arrange
    const parsed = parseMethodPattern('/acme.admin.*');
    if (!parsed.ok) throw new Error(parsed.message);

    // Act / Assert
    expect(methodMatches(parsed.pattern, '/acme.admin.V1/X')).toBe(true);
    expect(methodMatches(parsed.pattern, '/acme.adminx.V1/X')).toBe(false);
  });

  it('refuses a hand-built pattern whose prefix is not at a boundary', () => {
    const forged: GrpcPattern = { kind: 'package', source: 'x', package: '', prefix: '' };
    expect(methodMatches(forged, '/pkg.Svc/Get')).toBe(false);
    const unbounded: GrpcPattern = { kind: 'service', source: 'x', service: 'a', prefix: '/acme.adm' };
    expect(methodMatches(unbounded, '/acme.adminx.V1/X')).toBe(false);
  });
});

describe('Function: methodPatternWithin', () => {
  it.each([
    ['/acme.user.v1.UserService/GetUser', '/acme.user.v1.UserService/*', true],
    ['/acme.user.v1.UserService/*', '/acme.user.*', true],
    ['/acme.user.v1.UserService/*', '/acme.*', true],
    ['/acme.admin.v1.*', '/acme.admin.*', true],
    ['/acme.admin.*', '/acme.*', true],
    ['/acme.admin.*', '/acme.admin.*', true],
    ['/pkg.Svc/Get', '/pkg.Svc/Get', true],
    ['/service/admin/users/*', '/service/admin/*', true],
    ['/service/admin/*', '/service/*', true],
    ['/service/admin/Delete', '/service/admin/*', true],
    ['/acme.admin.V1/X', '/acme.admin.*', true],
    ['/acme.*', '/acme.admin.*', false],
    ['/acme.adminx.V1/*', '/acme.admin.*', false],
    ['/acme.admin/*', '/acme.admin.*', false],
    ['/pkg.Svc/*', '/pkg.Svc/Get', false],
    ['/pkg.Svc/GetAll', '/pkg.Svc/Get', false],
    ['/pkg.Svc/Get', '/pkg.Svc/GetAll', false],
    ['/service/adminX/*', '/service/admin/*', false],
    ['/service/*', '/service/admin/*', false],
    ['/acme.user.v1.UserService/*', '/acme.admin.*', false],
    ['/pkg.Svc/../x', '/pkg.Svc/*', false],
    ['/pkg.Svc/Get', '/*', false],
    ['/*', '/*', false],
  ])('%s within %s is %s', (inner, outer, expected) => {
    expect(methodPatternWithin(inner, outer)).toBe(expected);
  });
});

describe('Function: compileMethodMatcher', () => {
  it('matches exact paths and prefixes, and drops invalid patterns', () => {
    // Arrange
    const allows = compileMethodMatcher(['/acme.user.v1.UserService/GetUser', '/acme.admin.*', '/*', '/pkg.Svc/Get*']);

    // Act / Assert
    expect(allows('/acme.user.v1.UserService/GetUser')).toBe(true);
    expect(allows('/acme.user.v1.UserService/GetUsers')).toBe(false);
    expect(allows('/acme.admin.v1.Svc/Delete')).toBe(true);
    expect(allows('/acme.adminx.v1.Svc/Delete')).toBe(false);
    expect(allows('/pkg.Svc/GetAll')).toBe(false);
    expect(allows('/other.Svc/Get')).toBe(false);
    expect(allows('/acme.admin.v1.Svc/../Delete')).toBe(false);
  });

  it('matches nothing when given no patterns', () => {
    expect(compileMethodMatcher([])('/pkg.Svc/Get')).toBe(false);
  });
});

// ---- Properties -------------------------------------------------------------------------------------------------

const NAME_PART = /[A-Za-z0-9_-]+/.source;
const VALID_PATH = new RegExp(`^(?:/${NAME_PART}(?:\\.${NAME_PART})*){2,}$`);
const escapeRegex = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** Reference semantics written independently of the implementation: a regex per pattern. */
function referenceMatches(pattern: string, path: string): boolean {
  if (path.length > 1024 || !VALID_PATH.test(path)) return false;
  if (pattern.endsWith('/*') || pattern.endsWith('.*')) {
    const prefix = pattern.slice(0, -1);
    return new RegExp(`^${escapeRegex(prefix)}${NAME_PART}(?:[./]${NAME_PART})*$`).test(path);
  }
  return pattern === path;
}

const part = fc.constantFrom('a', 'b', 'ab', 'A', 'a_1');
const dotted = fc.array(part, { minLength: 1, maxLength: 3 }).map((ps) => ps.join('.'));
const segments = (min: number, max: number) => fc.array(dotted, { minLength: min, maxLength: max });

/** Valid patterns of every kind, over a small alphabet so that patterns overlap often. */
const validPattern: fc.Arbitrary<string> = fc.oneof(
  segments(2, 3).map((s) => `/${s.join('/')}`),
  segments(1, 3).map((s) => `/${s.join('/')}/*`),
  dotted.map((d) => `/${d}.*`),
);

/** A concrete path the pattern matches: the pattern's own path, or its prefix plus a random valid tail. */
const sampleFrom = (pattern: string): fc.Arbitrary<string> => {
  if (!pattern.endsWith('*')) return fc.constant(pattern);
  const prefix = pattern.slice(0, -1);
  const needsTwoSegments = prefix.split('/').length - 1 < 2;
  return fc
    .tuple(dotted, segments(needsTwoSegments ? 1 : 0, 2))
    .map(([first, more]) => `${prefix}${first}${more.map((s) => `/${s}`).join('')}`);
};

const junkChar = fc.constantFrom('/', '/', '.', '.', 'a', 'b', 'A', '_', '-', '*', ' ', '\u0000', '\n', 'é', ':', '?');
const junk = fc.array(junkChar, { maxLength: 16 }).map((cs) => cs.join(''));

describe('Property: methodPatternWithin is sound', () => {
  /** Inner patterns made by narrowing an outer one (a path under it, or a prefix under it), and near misses. */
  const derivedPair = validPattern.chain((outer) =>
    fc.tuple(
      fc.oneof(
        sampleFrom(outer),
        sampleFrom(outer).map((p) => `${p}/*`),
        sampleFrom(outer).map((p) => `${p.slice(0, p.lastIndexOf('/'))}.*`),
        sampleFrom(outer).map((p) => p.slice(0, -1)),
      ),
      fc.constant(outer),
    ),
  );

  it('every path sampled from the inner pattern matches the outer whenever within holds', () => {
    let proven = 0;
    fc.assert(
      fc.property(
        fc
          .oneof(fc.tuple(validPattern, validPattern), derivedPair)
          .chain(([inner, outer]) =>
            fc.tuple(
              fc.constant(inner),
              fc.constant(outer),
              fc.array(sampleFrom(inner), { minLength: 1, maxLength: 5 }),
            ),
          ),
        ([inner, outer, samples]) => {
          if (!methodPatternWithin(inner, outer)) return;
          proven++;
          for (const path of samples) {
            expect(methodMatches(inner, path)).toBe(true);
            expect({ inner, outer, path, matches: methodMatches(outer, path) }).toMatchObject({ matches: true });
          }
        },
      ),
      { numRuns: 1000 },
    );
    // Guard against a vacuous pass: the generators must produce containing pairs.
    expect(proven).toBeGreaterThan(150);
  });

  it('a pattern derived by extending an outer prefix is found to be within it', () => {
    const derived = validPattern
      .filter((p) => p.endsWith('*'))
      .chain((outer) => fc.tuple(fc.constant(outer), sampleFrom(outer), fc.boolean()));
    fc.assert(
      fc.property(derived, ([outer, path, exact]) => {
        const inner = exact ? path : `${path}/*`;
        expect(methodPatternWithin(inner, outer)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});

describe('Property: methodMatches agrees with a reference regex', () => {
  it('on random strings and on near-misses of the pattern', () => {
    fc.assert(
      fc.property(
        validPattern,
        fc.oneof(
          junk,
          validPattern.chain(sampleFrom),
          fc.tuple(validPattern, junk).map(([p, j]) => p.replace('*', '') + j),
        ),
        (pattern, path) => {
          const expected = referenceMatches(pattern, path);
          expect(methodMatches(pattern, path)).toBe(expected);
          expect(compileMethodMatcher([pattern])(path)).toBe(expected);
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('Property: methodMatches never matches an invalid path', () => {
  it('for any pattern string and any path the reference deems invalid', () => {
    const anyPattern = fc.oneof(
      validPattern,
      junk.map((j) => `/${j}`),
      junk,
    );
    const corrupt = fc
      .tuple(validPattern.chain(sampleFrom), fc.nat(), junkChar)
      .map(([p, at, c]) => p.slice(0, at % (p.length + 1)) + c + p.slice(at % (p.length + 1)));
    fc.assert(
      fc.property(anyPattern, fc.oneof(junk, corrupt), (pattern, path) => {
        if (VALID_PATH.test(path)) return;
        expect(isValidMethodPath(path)).toBe(false);
        expect(methodMatches(pattern, path)).toBe(false);
        expect(compileMethodMatcher([pattern, '/a.*', '/b/*'])(path)).toBe(false);
      }),
      { numRuns: 2000 },
    );
  });
});
