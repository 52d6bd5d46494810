/**
 * gRPC method patterns: what a `grpc` target allows and what a prefix token carries in its `scope` claim.
 *
 * A concrete method path is what a gRPC server sees in `:path`: `/pkg.Service/Method`. The slash notation for
 * prefix permissions (`/service/admin/Delete`) is accepted too, so a path is two or more `/`-separated segments,
 * each a dotted name whose parts are `[A-Za-z0-9_-]+`. Patterns are:
 * - exact: `/acme.user.v1.UserService/GetUser` matches only itself;
 * - service: `/acme.user.v1.UserService/*` matches every path under `/acme.user.v1.UserService/`;
 * - package: `/acme.admin.*` matches every service whose fully qualified name starts with `acme.admin.`;
 * - path: `/service/admin/*` matches every path under `/service/admin/`.
 * Every wildcard pattern reduces to "a valid path that starts with this prefix", and every prefix ends at a
 * separator (`/` or `.`), which is what makes matching segment-aware: `/acme.admin.*` never matches `acme.adminx`.
 * Anything outside this grammar is refused when parsed and never matches: refusing an odd path costs a caller
 * a retry, while accepting one could let a path that the token never named through the interceptor.
 */

import { forbiddenCharacter } from './chars';

export type GrpcPattern =
  | { readonly kind: 'exact'; readonly source: string; readonly path: string }
  | { readonly kind: 'service'; readonly source: string; readonly service: string; readonly prefix: string }
  | { readonly kind: 'package'; readonly source: string; readonly package: string; readonly prefix: string }
  | { readonly kind: 'path'; readonly source: string; readonly segments: readonly string[]; readonly prefix: string };

export type GrpcPatternParse = { ok: true; pattern: GrpcPattern } | { ok: false; message: string };

/** Longest pattern accepted: patterns travel in token claims, and real method paths are far shorter. */
export const MAX_METHOD_PATTERN_LENGTH = 512;
/** Longest method path that can match; longer paths are refused without being scanned. */
export const MAX_METHOD_PATH_LENGTH = 1024;

const SLASH = 0x2f;
const DOT = 0x2e;

// Lookup table for the characters a name part may contain: ASCII letters, digits, `_` and `-`.
const NAME_CHAR = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  if (/[A-Za-z0-9_-]/.test(ch)) NAME_CHAR[c] = 1;
}

const isNameChar = (c: number): boolean => c < 128 && NAME_CHAR[c] === 1;

/** True when `name` is one or more non-empty name parts joined by single dots (`acme.user.v1.UserService`). */
function isDottedName(name: string): boolean {
  if (name.length === 0) return false;
  let partLen = 0;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c === DOT) {
      if (partLen === 0) return false;
      partLen = 0;
    } else if (isNameChar(c)) {
      partLen++;
    } else {
      return false;
    }
  }
  return partLen > 0;
}

/** Is `path` a concrete method path (`/pkg.Service/Method`, or `/a/b/C` in slash notation) that may ever match? */
export function isValidMethodPath(path: string): boolean {
  // "/a/b" is the shortest possible path.
  if (typeof path !== 'string' || path.length < 4 || path.length > MAX_METHOD_PATH_LENGTH) return false;
  if (path.charCodeAt(0) !== SLASH) return false;
  let segments = 1;
  let partLen = 0;
  for (let i = 1; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c === SLASH || c === DOT) {
      // An empty part here is `//`, `/.`, `./` or `..`: all refused.
      if (partLen === 0) return false;
      if (c === SLASH) segments++;
      partLen = 0;
    } else if (isNameChar(c)) {
      partLen++;
    } else {
      return false;
    }
  }
  return partLen > 0 && segments >= 2;
}

/** Explains the first character that can never appear in a pattern, or undefined when all are acceptable. */
function badCharacter(p: string): string | undefined {
  for (let i = 0; i < p.length; i++) {
    const c = p.charCodeAt(i);
    const why = forbiddenCharacter(
      c,
      'contains a non-ASCII character (names are ASCII; look-alike letters are refused)',
    );
    if (why) return why;
    if (c !== SLASH && c !== DOT && c !== 0x2a && !isNameChar(c)) {
      return `contains ${JSON.stringify(p[i])}, which is not allowed in a method path (letters, digits, _ and - only)`;
    }
  }
  return undefined;
}

/** Parses and validates a method pattern; the message says why a pattern is refused. */
export function parseMethodPattern(p: string): GrpcPatternParse {
  const fail = (why: string): GrpcPatternParse => ({ ok: false, message: `method pattern ${show(p)} ${why}` });
  if (typeof p !== 'string' || p.length === 0) return { ok: false, message: 'method pattern is empty' };
  if (p.length > MAX_METHOD_PATTERN_LENGTH) return fail(`is longer than ${MAX_METHOD_PATTERN_LENGTH} characters`);
  const bad = badCharacter(p);
  if (bad !== undefined) return fail(bad);
  if (p === '*' || p === '/*') return fail('would allow every method of every service; name a service or package');
  if (p.charCodeAt(0) !== SLASH) return fail("must start with '/', e.g. /acme.user.v1.UserService/GetUser");
  if (p.includes('..')) return fail("contains '..'");
  if (p.includes('//')) return fail("contains an empty segment ('//')");
  if (p.endsWith('/')) return fail("ends with '/'; write '/*' to mean everything under it");

  const segments = p.slice(1).split('/');
  const last = segments.length - 1;
  for (let k = 0; k < last; k++) {
    const seg = segments[k] ?? '';
    if (seg.includes('*')) return fail("has '*' before the last segment; '*' may only end a pattern");
    if (!isDottedName(seg)) return fail(`has a malformed segment ${show(seg)}`);
  }
  const tail = segments[last] ?? '';

  if (tail === '*') {
    // `/x/*` for one segment x is a whole service; for more it is the slash-notation prefix.
    const names = segments.slice(0, last);
    const prefix = `/${names.join('/')}/`;
    if (names.length === 1)
      return { ok: true, pattern: { kind: 'service', source: p, service: names[0] ?? '', prefix } };
    return { ok: true, pattern: { kind: 'path', source: p, segments: names, prefix } };
  }
  if (tail.endsWith('.*')) {
    // A package prefix only makes sense on the service name, which is the first segment of a real method path.
    if (last !== 0) return fail("uses '.*' after the service name; a package prefix looks like /acme.admin.*");
    const pkg = tail.slice(0, -2);
    if (pkg.includes('*')) return fail("has '*' before the end; '*' may only end a pattern");
    if (!isDottedName(pkg)) return fail(`has a malformed package name ${show(pkg)}`);
    return { ok: true, pattern: { kind: 'package', source: p, package: pkg, prefix: `/${pkg}.` } };
  }
  if (tail.includes('*')) return fail("has '*' inside a name; '*' must be a whole final segment (/pkg.Svc/*)");
  if (!isDottedName(tail)) return fail(`has a malformed segment ${show(tail)}`);
  if (segments.length < 2) return fail('names a service but no method; write /pkg.Service/* for the whole service');
  return { ok: true, pattern: { kind: 'exact', source: p, path: p } };
}

/** Does `methodPath` fall under `pattern`? Invalid patterns and invalid paths never match. */
export function methodMatches(pattern: string | GrpcPattern, methodPath: string): boolean {
  let parsed: GrpcPattern;
  if (typeof pattern === 'string') {
    const r = parseMethodPattern(pattern);
    if (!r.ok) return false;
    parsed = r.pattern;
  } else {
    parsed = pattern;
    // A hand-built pattern with an empty or unbounded prefix would match everything: refuse it.
    if (parsed.kind !== 'exact' && !isBoundaryPrefix(parsed.prefix)) return false;
  }
  if (!isValidMethodPath(methodPath)) return false;
  // A valid path never ends with a separator, so a path that starts with the prefix extends it by a whole name.
  return parsed.kind === 'exact' ? methodPath === parsed.path : methodPath.startsWith(parsed.prefix);
}

function isBoundaryPrefix(prefix: string): boolean {
  const end = prefix.charCodeAt(prefix.length - 1);
  return prefix.length >= 3 && prefix.charCodeAt(0) === SLASH && (end === SLASH || end === DOT);
}

/** Is every method path matched by `inner` also matched by `outer`? False when either pattern is invalid. */
export function methodPatternWithin(inner: string, outer: string): boolean {
  const i = parseMethodPattern(inner);
  const o = parseMethodPattern(outer);
  if (!i.ok || !o.ok) return false;
  return patternWithin(i.pattern, o.pattern);
}

/** `methodPatternWithin` on parsed patterns. */
export function patternWithin(inner: GrpcPattern, outer: GrpcPattern): boolean {
  if (outer.kind === 'exact') return inner.kind === 'exact' && inner.path === outer.path;
  if (!isBoundaryPrefix(outer.prefix)) return false;
  // Every path the inner matches starts with the inner's path or prefix; both end at a boundary.
  return (inner.kind === 'exact' ? inner.path : inner.prefix).startsWith(outer.prefix);
}

/**
 * Builds the check the server interceptor runs on every call. Invalid patterns are dropped (they never match);
 * exact paths go in a set and prefixes in a list, so a call costs one scan of the path plus a few `startsWith`.
 */
export function compileMethodMatcher(patterns: readonly string[]): (methodPath: string) => boolean {
  const exact = new Set<string>();
  const prefixes: string[] = [];
  for (const p of patterns) {
    const r = parseMethodPattern(p);
    if (!r.ok) continue;
    if (r.pattern.kind === 'exact') exact.add(r.pattern.path);
    else if (!prefixes.includes(r.pattern.prefix)) prefixes.push(r.pattern.prefix);
  }
  return (methodPath: string): boolean => {
    if (!isValidMethodPath(methodPath)) return false;
    if (exact.has(methodPath)) return true;
    for (const prefix of prefixes) if (methodPath.startsWith(prefix)) return true;
    return false;
  };
}

/** Quotes untrusted input for a message: escapes control characters and keeps messages short. */
function show(s: string): string {
  return JSON.stringify(s.length > 120 ? `${s.slice(0, 120)}...` : s);
}
