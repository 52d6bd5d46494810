/**
 * IAM action and resource patterns: parsing, matching, and a sound containment check used to decide whether a
 * requested scope lies within what a rule or target allows.
 *
 * Containment must be sound with respect to how AWS evaluates the session policy, and AWS documents that
 * semantics only loosely: wildcards work "within the individual segments of an ARN (the parts separated by
 * colons)", a `*` that is the last character of a segment "can expand to match beyond the colon boundaries",
 * and the service segment takes no wildcard (IAM User Guide, "IAM JSON policy elements: Resource"). Rather than
 * bet on one reading, `resourceContained` only answers true when containment holds under each of them:
 * whole-string globbing; per-segment globbing of the five leading parts with the rest globbed whole; and
 * colon-bounded globbing where only a segment-final `*` crosses a colon. See `containedTokens` for how.
 */

import { forbiddenCharacter } from './chars';

export interface ActionPattern {
  source: string;
  /** Service prefix as written (compared case-insensitively). */
  service: string;
  /** Action part, may hold `*` and `?`. */
  action: string;
}

export interface ResourcePattern {
  source: string;
  partition: string;
  service: string;
  region: string;
  account: string;
  /** Everything after the fifth colon; may itself contain colons. */
  resource: string;
}

export type Parsed<T> = { ok: true; pattern: T } | { ok: false; message: string };

/** IAM action names are short; anything longer is a mistake or an attack on the containment check. */
export const MAX_ACTION_PATTERN_LENGTH = 128;
/** The whole session policy is capped at 2,048 characters, so a longer ARN pattern could never be granted. */
export const MAX_RESOURCE_PATTERN_LENGTH = 1024;

const SERVICE = /^[A-Za-z][A-Za-z0-9-]*$/;
const ACTION = /^[A-Za-z0-9*?]+$/;
const ARN_SERVICE = /^[a-z][a-z0-9-]*$/;
const ARN_PART_WITH_WILDCARDS = /^[a-z0-9*?-]*$/;

/** Explains the first character that can never appear in a scope, or undefined. */
function badCharacter(p: string): string | undefined {
  for (let i = 0; i < p.length; i++) {
    const why = forbiddenCharacter(p.charCodeAt(i));
    if (why) return why;
  }
  return undefined;
}

/** Parses an IAM action pattern (`s3:Get*`); the message says why one is refused. */
export function parseActionPattern(p: string): Parsed<ActionPattern> {
  const fail = (why: string): Parsed<ActionPattern> => ({ ok: false, message: `action pattern ${show(p)} ${why}` });
  if (typeof p !== 'string' || p.length === 0) return { ok: false, message: 'action pattern is empty' };
  if (p.length > MAX_ACTION_PATTERN_LENGTH) return fail(`is longer than ${MAX_ACTION_PATTERN_LENGTH} characters`);
  const bad = badCharacter(p);
  if (bad !== undefined) return fail(bad);
  if (p === '*') return fail('would allow every action of every AWS service; name a service, e.g. s3:Get*');
  const colon = p.indexOf(':');
  if (colon < 0) return fail('must be service:Action, e.g. s3:GetObject');
  const service = p.slice(0, colon);
  const action = p.slice(colon + 1);
  if (service.includes('*') || service.includes('?')) {
    return fail('has a wildcard in the service prefix; name the service, e.g. s3:*');
  }
  if (!SERVICE.test(service)) return fail('has a malformed service prefix (letters, digits and -)');
  if (action.length === 0) return fail('has no action after the colon');
  if (!ACTION.test(action)) return fail('has a malformed action name (letters, digits, * and ? only)');
  return { ok: true, pattern: { source: p, service, action } };
}

/** Parses an ARN pattern (`arn:aws:s3:::logs/*`); the message says why one is refused. */
export function parseResourcePattern(p: string): Parsed<ResourcePattern> {
  const fail = (why: string): Parsed<ResourcePattern> => ({ ok: false, message: `resource pattern ${show(p)} ${why}` });
  if (typeof p !== 'string' || p.length === 0) return { ok: false, message: 'resource pattern is empty' };
  if (p.length > MAX_RESOURCE_PATTERN_LENGTH) return fail(`is longer than ${MAX_RESOURCE_PATTERN_LENGTH} characters`);
  const bad = badCharacter(p);
  if (bad !== undefined) return fail(bad);
  if (p === '*') return fail('would allow every resource; name an ARN pattern, e.g. arn:aws:s3:::bucket/*');
  // AWS substitutes `${...}` per request, so what it would allow cannot be known when the grant is decided.
  if (p.includes('${')) return fail('uses an IAM policy variable, which AWS resolves per request');
  const parts: string[] = [];
  let from = 0;
  for (let k = 0; k < 5; k++) {
    const at = p.indexOf(':', from);
    if (at < 0) return fail('must have the form arn:partition:service:region:account:resource');
    parts.push(p.slice(from, at));
    from = at + 1;
  }
  const [arn = '', partition = '', service = '', region = '', account = ''] = parts;
  const resource = p.slice(from);
  if (arn !== 'arn') return fail("must start with 'arn:'");
  if (partition.length === 0 || !ARN_PART_WITH_WILDCARDS.test(partition)) return fail('has a malformed partition');
  if (service.includes('*') || service.includes('?')) {
    return fail('has a wildcard in the service segment, which AWS does not support');
  }
  if (!ARN_SERVICE.test(service)) return fail('has a malformed service segment');
  if (!ARN_PART_WITH_WILDCARDS.test(region)) return fail('has a malformed region segment');
  if (!ARN_PART_WITH_WILDCARDS.test(account)) return fail('has a malformed account segment');
  if (resource.length === 0) return fail('has an empty resource part');
  return { ok: true, pattern: { source: p, partition, service, region, account, resource } };
}

/** Why an action pattern may not be used as a scope, or undefined when it may. */
export function actionPatternProblem(p: string): string | undefined {
  const r = parseActionPattern(p);
  return r.ok ? undefined : r.message;
}

/** Why a resource pattern may not be used as a scope, or undefined when it may. */
export function resourcePatternProblem(p: string): string | undefined {
  const r = parseResourcePattern(p);
  return r.ok ? undefined : r.message;
}

/** ASCII-only lower-casing: keeps string length (unlike `toLowerCase` on some non-ASCII letters). */
function foldAscii(s: string): string {
  return s.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32));
}

/**
 * Whole-string IAM wildcard match: `*` is any run (including empty), `?` exactly one character.
 * Greedy with one backtrack point, so O(pattern x value) at worst and never exponential.
 */
export function iamPatternMatches(pattern: string, value: string, options?: { caseInsensitive?: boolean }): boolean {
  const pat = options?.caseInsensitive ? foldAscii(pattern) : pattern;
  const val = options?.caseInsensitive ? foldAscii(value) : value;
  let p = 0;
  let v = 0;
  let starP = -1;
  let starV = 0;
  while (v < val.length) {
    const c = pat.charCodeAt(p);
    if (c === STAR_CHAR) {
      starP = p++;
      starV = v;
    } else if (p < pat.length && (c === QUESTION_CHAR || c === val.charCodeAt(v))) {
      p++;
      v++;
    } else if (starP >= 0) {
      p = starP + 1;
      v = ++starV;
    } else {
      return false;
    }
  }
  while (pat.charCodeAt(p) === STAR_CHAR) p++;
  return p === pat.length;
}

const STAR_CHAR = 0x2a;
const QUESTION_CHAR = 0x3f;
const COLON = 0x3a;
/** A `*` that may stand for any string, colons included. */
const STAR_ANY = -1;
/** A `*` that, under the strictest reading, stands only for strings without a colon. */
const STAR_PART = -2;
/** `?`: one character (under the strictest reading, not a colon). */
const ONE = -3;

/**
 * Turns a pattern into tokens: character codes for literals, negative codes for wildcards. When `colonAware`,
 * a `*` counts as colon-crossing only when it ends a colon-separated segment, as AWS documents for ARNs.
 */
function tokenize(s: string, colonAware: boolean): Int32Array {
  const out = new Int32Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === STAR_CHAR) {
      const next = s.charCodeAt(i + 1);
      out[i] = !colonAware || Number.isNaN(next) || next === COLON ? STAR_ANY : STAR_PART;
    } else if (c === QUESTION_CHAR) {
      out[i] = ONE;
    } else {
      out[i] = c;
    }
  }
  return out;
}

/** Can the outer token `o` absorb the whole of what the inner token `t` may stand for? */
function absorbs(o: number, t: number, colonAware: boolean): boolean {
  if (o === STAR_ANY) return true;
  if (o === STAR_PART) return t === ONE || t === STAR_PART || (t >= 0 && t !== COLON);
  if (o === ONE) return t === ONE || (t >= 0 && (!colonAware || t !== COLON));
  return t === o;
}

/**
 * Sound, polynomial containment: true only if every string the inner pattern matches is matched by the outer.
 *
 * The inner pattern is read as a word over literals plus the symbols `*` and `?`; the outer must match that
 * word, where an outer `*` absorbs any run of symbols it can stand for, an outer `?` absorbs one literal or `?`,
 * and a literal absorbs only itself. Any expansion of the inner word is then matched by the same alignment, so
 * a true answer is a proof; a false answer may be a missed proof (e.g. `a*` within `*a*` is not found), and the
 * caller denies with a reason. Colon-aware tokens make each outer wildcard no stronger, and each inner wildcard
 * no weaker, than under any of the readings listed at the top of this file. Dynamic programming over
 * (inner position, outer position) with two columns: O(n x m) time, O(n) memory, no backtracking.
 */
function containedTokens(inner: Int32Array, outer: Int32Array, colonAware: boolean): boolean {
  const n = inner.length;
  const m = outer.length;
  // prev[i]: can outer[j+1..] absorb inner[i..]; cur[i]: can outer[j..] absorb inner[i..].
  let prev = new Uint8Array(n + 1);
  let cur = new Uint8Array(n + 1);
  prev[n] = 1;
  for (let j = m - 1; j >= 0; j--) {
    const o = outer[j] ?? 0;
    const isStar = o === STAR_ANY || o === STAR_PART;
    cur[n] = isStar ? (prev[n] ?? 0) : 0;
    for (let i = n - 1; i >= 0; i--) {
      const t = inner[i] ?? 0;
      if (isStar) {
        cur[i] = prev[i] === 1 || (cur[i + 1] === 1 && absorbs(o, t, colonAware)) ? 1 : 0;
      } else {
        cur[i] = prev[i + 1] === 1 && absorbs(o, t, colonAware) ? 1 : 0;
      }
    }
    [prev, cur] = [cur, prev];
  }
  return prev[0] === 1;
}

/** Is every action the `requested` pattern could match also matched by `allowed`? Sound, maybe incomplete. */
export function actionCovered(requested: string, allowed: string): boolean {
  const r = parseActionPattern(requested);
  const a = parseActionPattern(allowed);
  if (!r.ok || !a.ok) return false;
  if (foldAscii(r.pattern.service) !== foldAscii(a.pattern.service)) return false;
  // Actions hold no colon after the service prefix, so every `*` may be treated as unbounded.
  return containedTokens(
    tokenize(foldAscii(r.pattern.action), false),
    tokenize(foldAscii(a.pattern.action), false),
    false,
  );
}

/**
 * A leading ARN segment (partition, region, account) of the requested pattern is within the allowed one when
 * the allowed is `*` (segment-final, so it absorbs even a colon-crossing expansion), the two are identical, or
 * the requested is a literal the allowed matches. Anything cleverer would depend on which reading AWS applies.
 */
function leadingSegmentContained(inner: string, outer: string): boolean {
  if (outer === '*' || inner === outer) return true;
  return !inner.includes('*') && !inner.includes('?') && iamPatternMatches(outer, inner);
}

/** Is every ARN the `requested` pattern could match also matched by `allowed`? Sound, maybe incomplete. */
export function resourceContained(requested: string, allowed: string): boolean {
  const r = parseResourcePattern(requested);
  const a = parseResourcePattern(allowed);
  if (!r.ok || !a.ok) return false;
  const inner = r.pattern;
  const outer = a.pattern;
  if (inner.service !== outer.service) return false;
  if (!leadingSegmentContained(inner.partition, outer.partition)) return false;
  if (!leadingSegmentContained(inner.region, outer.region)) return false;
  if (!leadingSegmentContained(inner.account, outer.account)) return false;
  if (inner.resource === outer.resource) return true;
  return containedTokens(tokenize(inner.resource, true), tokenize(outer.resource, true), true);
}

/** True when the pattern holds a wildcard, i.e. denotes more than one string. */
export function hasWildcard(p: string): boolean {
  return p.includes('*') || p.includes('?');
}

/** Quotes untrusted input for a message: escapes control characters and keeps messages short. */
function show(s: string): string {
  return JSON.stringify(s.length > 120 ? `${s.slice(0, 120)}...` : s);
}
