import { z } from 'zod';
import type { Found, Seg } from './locations';
import { describeValue } from './schema';
import { suggest } from './suggest';

/** Schema (zod) issues turned into located problems worded for someone editing YAML. */

type Issue = z.core.$ZodIssue;

/** Messages for zod's generic issues, worded for someone editing YAML. Schema-specific messages take precedence. */
export const friendly: z.core.$ZodErrorMap = (iss) => {
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

export function schemaProblems(schema: z.ZodType, raw: unknown, prefix: readonly Seg[], found: Found[]): boolean {
  const r = schema.safeParse(raw, { reportInput: true, error: friendly });
  if (r.success) return true;
  addIssues(r.error.issues, schema, [], prefix, found);
  return false;
}

export function addIssues(
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

/** The fields of an object that parse on their own, so cross-checks can run on a rule with an unrelated mistake. */
export function salvage<T extends z.ZodObject>(schema: T, raw: unknown): Partial<z.output<T>> {
  const out: Record<string, unknown> = {};
  if (!isPlainObject(raw)) return out as Partial<z.output<T>>;
  for (const [key, field] of Object.entries(schema.shape as unknown as Record<string, z.ZodType>)) {
    const r = field.safeParse(raw[key]);
    if (r.success && r.data !== undefined) out[key] = r.data;
  }
  return out as Partial<z.output<T>>;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
