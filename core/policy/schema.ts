import { z } from 'zod';
import { DAY, HOUR, parseDuration } from '../duration';
import { parseCidr } from '../net';
import { isValidPrincipalId, normalizePrincipalId } from '../principal';
import { parseActionPattern, parseResourcePattern } from '../scope/aws';
import { isBasicRole, parseGcpRole } from '../scope/gcp';
import { parseMethodPattern } from '../scope/grpc';
import { hoursFromSpec, parseHours } from './hours';
import type { Subject } from './types';

/**
 * The schema of the access policy file (`access.yaml`), as written by operators. `load.ts` turns what this
 * parses into a `Policy` and adds the checks that span several parts of the file (references, limits, approvers).
 *
 * Every object is strict: an unknown key is an error, because a typo such as `maxDuraton` must not silently drop
 * a limit. Values that YAML can turn into something else (an account id with a leading zero, a bare number as a
 * duration) are refused with a message saying how to write them.
 */

export { GROUP_NAME, GROUP_PREFIX, RULE_NAME, TARGET_NAME } from './names';

import { GROUP_NAME, GROUP_NAME_RULE, GROUP_PREFIX, RULE_NAME, TARGET_NAME } from './names';

export const DEFAULT_SETTINGS = { maxDuration: 12 * HOUR, pendingTimeout: 1 * HOUR, maxStartAhead: 7 * DAY } as const;

/** Approval counts above this are refused: no real rule needs more, and a large number is usually a typo. */
export const MAX_APPROVAL_COUNT = 10;

/** How a value that YAML produced is named in messages. */
export function describeValue(v: unknown): string {
  if (v === null) return 'empty (null)';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a map';
  if (typeof v === 'string') return `the string "${v.length > 40 ? `${v.slice(0, 40)}...` : v}"`;
  if (typeof v === 'number') return `the number ${v}`;
  if (typeof v === 'boolean') return `${v}`;
  return typeof v;
}

/** A string field whose message names what was found when it is not a string. */
const str = (what: string) =>
  z.string({
    error: (iss) => (iss.input === undefined ? undefined : `must be ${what}, not ${describeValue(iss.input)}`),
  });

const description = str('a string').max(1000, 'must be at most 1000 characters');

/** `30m`, `2h`, `1h30m`, `90s`, `1d`, `PT30M`, converted to milliseconds. */
export const DurationSchema = z
  .string({
    error: (iss) => {
      if (iss.input === undefined) return undefined;
      if (typeof iss.input === 'number') {
        return `the bare number ${iss.input} is ambiguous (seconds? minutes?): write a duration such as "30m", "2h" or "PT30M"`;
      }
      return `must be a duration such as "30m" or "2h", not ${describeValue(iss.input)}`;
    },
  })
  .transform((text, ctx) => {
    if (/^\s*-/.test(text)) {
      ctx.issues.push({
        code: 'custom',
        message: `"${text}" is negative; a duration must be longer than zero`,
        input: text,
      });
      return z.NEVER;
    }
    const r = parseDuration(text);
    if (!r.ok) {
      ctx.issues.push({ code: 'custom', message: r.message, input: text });
      return z.NEVER;
    }
    return r.ms;
  });

/** Parses `group:<name>` or a principal id; principal ids take their canonical (lower-case) form. */
export function parseSubject(text: string): { ok: true; subject: Subject } | { ok: false; message: string } {
  if (text.startsWith(GROUP_PREFIX)) {
    const name = text.slice(GROUP_PREFIX.length);
    if (!GROUP_NAME.test(name)) {
      return {
        ok: false,
        message: `"${text}": ${GROUP_NAME_RULE}`,
      };
    }
    return { ok: true, subject: { kind: 'group', name } };
  }
  if (text.toLowerCase().startsWith(GROUP_PREFIX)) {
    // Principal ids compare case-insensitively, so `Group:sre` would become a principal named "group:sre".
    return { ok: false, message: `"${text}": write the group: prefix in lower case` };
  }
  if (!isValidPrincipalId(text)) {
    return {
      ok: false,
      message: `"${text}" is not a principal id (1-128 printable ASCII characters, no spaces) or group:<name>`,
    };
  }
  return { ok: true, subject: { kind: 'principal', id: normalizePrincipalId(text) } };
}

/** `group:<name>` or a principal id such as `alice@corp.com`. */
export const SubjectSchema = str('group:<name> or a principal id').transform((text, ctx) => {
  const r = parseSubject(text);
  if (!r.ok) {
    ctx.issues.push({ code: 'custom', message: r.message, input: text });
    return z.NEVER;
  }
  return r.subject;
});

const nonEmptyList = <T extends z.ZodType>(item: T) => z.array(item).min(1, 'must not be empty');

/** The message of a union none of whose forms matched; a missing value is just "required". */
const unionError = (message: string) => (iss: { input?: unknown }) =>
  iss.input === undefined ? 'is required' : message;

/** A string checked by one of the scope parsers, which return `{ ok, message }`. */
const checked = (what: string, parse: (s: string) => { ok: true } | { ok: false; message: string }) =>
  str(what).superRefine((text, ctx) => {
    const r = parse(text);
    if (!r.ok) ctx.addIssue({ code: 'custom', message: r.message, input: text });
  });

export const GroupNameSchema = z.string().regex(GROUP_NAME, GROUP_NAME_RULE);
export const TargetNameSchema = z
  .string()
  .regex(TARGET_NAME, 'a target name is 1-63 of a-z, 0-9 and -, starting with a letter or digit');

/** Members of a group: principal ids and nested `group:<name>` references. */
export const GroupMembersSchema = z.array(SubjectSchema, {
  error: (iss) =>
    iss.input === undefined
      ? undefined
      : `must be a list of members, not ${describeValue(iss.input)} (write [] for none)`,
});

const targetCommon = {
  /** Longest grant on this target; rules may not allow more. */
  maxDuration: DurationSchema.optional(),
  description: description.optional(),
};

const AccountSchema = z
  .string({
    error: (iss) => {
      if (typeof iss.input === 'number') {
        return `must be a quoted string: YAML read this account id as the number ${iss.input}, which drops leading zeros (write account: "012345678901")`;
      }
      return iss.input === undefined ? undefined : `must be a 12-digit string, not ${describeValue(iss.input)}`;
    },
  })
  .regex(/^\d{12}$/, 'must be a 12-digit AWS account id');

export const AwsRoleTargetSchema = z
  .strictObject({
    kind: z.literal('aws-role'),
    account: AccountSchema,
    role: str('an IAM role name').regex(
      /^[\w+=,.@-]{1,64}$/,
      'must be an IAM role name: 1-64 of letters, digits and +=,.@_-',
    ),
    actions: nonEmptyList(checked('an IAM action pattern', parseActionPattern)),
    resources: nonEmptyList(checked('a resource ARN pattern', parseResourcePattern)),
    partition: z.enum(['aws', 'aws-us-gov', 'aws-cn'], { error: 'must be aws, aws-us-gov or aws-cn' }).default('aws'),
    ...targetCommon,
  })
  .superRefine((t, ctx) => {
    // A resource in another partition can never be reached through this target's role: a sure typo.
    t.resources.forEach((arn, i) => {
      const r = parseResourcePattern(arn);
      if (r.ok && !/[*?]/.test(r.pattern.partition) && r.pattern.partition !== t.partition) {
        ctx.addIssue({
          code: 'custom',
          path: ['resources', i],
          message: `resource "${arn}" is in partition ${r.pattern.partition}, but this target's partition is ${t.partition}`,
          input: arn,
        });
      }
    });
  });

const GcpRoleSchema = str('a GCP role').superRefine((role, ctx) => {
  // IAM conditions, which end a GCP grant at expiry, cannot be attached to basic roles.
  if (isBasicRole(role)) {
    ctx.addIssue({
      code: 'custom',
      message: `"${role}" is a basic role; GCP does not allow IAM conditions on basic roles, so a grant could not expire by itself: use a predefined or custom role`,
      input: role,
    });
    return;
  }
  const r = parseGcpRole(role);
  if (!r.ok) ctx.addIssue({ code: 'custom', message: r.message, input: role });
});

export const GcpRoleTargetSchema = z.strictObject({
  kind: z.literal('gcp-role'),
  project: str('a GCP project id').regex(
    /^[a-z][a-z0-9-]{4,28}[a-z0-9]$/,
    'must be a GCP project id: 6-30 of a-z, 0-9 and -, starting with a letter, not ending with -',
  ),
  roles: nonEmptyList(GcpRoleSchema),
  ...targetCommon,
});

export const GrpcTargetSchema = z.strictObject({
  kind: z.literal('grpc'),
  audience: str('a string').regex(/^[A-Za-z0-9._:/-]{1,128}$/, 'must be 1-128 of A-Z, a-z, 0-9 and ._:/-'),
  methods: nonEmptyList(checked('a gRPC method pattern', parseMethodPattern)),
  ...targetCommon,
});

/** Target schema per `kind`; the loader picks one so a bad `kind` gives one clear message, not a union dump. */
export const TARGET_SCHEMAS = {
  'aws-role': AwsRoleTargetSchema,
  'gcp-role': GcpRoleTargetSchema,
  grpc: GrpcTargetSchema,
} as const;

export const TargetSchema = z.discriminatedUnion('kind', [AwsRoleTargetSchema, GcpRoleTargetSchema, GrpcTargetSchema]);

export const ApprovalSchema = z.union(
  [
    z.literal('auto'),
    z.strictObject({
      /** Who may approve: a subject or a list of them. */
      from: z.union([SubjectSchema, nonEmptyList(SubjectSchema)], {
        error: unionError('must be group:<name>, a principal id, or a list of those'),
      }),
      count: z
        .number({
          error: (iss) =>
            iss.input === undefined ? undefined : `must be a whole number, not ${describeValue(iss.input)}`,
        })
        .int('must be a whole number')
        .min(1, 'must be at least 1')
        .max(MAX_APPROVAL_COUNT, `must be at most ${MAX_APPROVAL_COUNT}`),
      /** Approvers must approve from an MFA session. */
      mfa: z.boolean({ error: 'must be true or false' }).optional(),
    }),
  ],
  { error: unionError('must be auto or a map such as { from: group:secops, count: 1 }') },
);

const HoursTextSchema = z.string().transform((text, ctx) => {
  const r = parseHours(text);
  if (!r.ok) {
    ctx.issues.push({ code: 'custom', message: r.message, input: text });
    return z.NEVER;
  }
  return r.window;
});

const HoursObjectSchema = z
  .strictObject({
    days: nonEmptyList(str('a day name such as Mon')),
    from: str('a time such as "08:00"'),
    to: str('a time such as "18:00"'),
    timeZone: str('a time zone such as UTC or Europe/Paris'),
  })
  .transform((spec, ctx) => {
    const r = hoursFromSpec(spec);
    if (!r.ok) {
      ctx.issues.push({ code: 'custom', message: r.message, input: spec, path: r.field ? [r.field] : [] });
      return z.NEVER;
    }
    return r.window;
  });

export const WhenSchema = z.strictObject({
  hours: z
    .union([HoursTextSchema, HoursObjectSchema], {
      error: unionError('must be a string such as "Mon-Fri 08:00-18:00 UTC" or a map {days, from, to, timeZone}'),
    })
    .optional(),
  sourceIp: nonEmptyList(
    str('a CIDR such as 10.0.0.0/8').transform((text, ctx) => {
      const r = parseCidr(text);
      if (!r.ok) {
        ctx.issues.push({ code: 'custom', message: r.message, input: text });
        return z.NEVER;
      }
      return r.cidr;
    }),
  ).optional(),
});

const ATTRIBUTE_KEY = /^[A-Za-z0-9][A-Za-z0-9_.:/@-]{0,127}$/;
const attributeValue = str('a string').min(1, 'must not be empty');

export const RequireSchema = z.strictObject({
  /** The requester must be in an MFA session; approvers must be too. */
  mfa: z.boolean({ error: 'must be true or false' }).optional(),
  attributes: z
    .record(
      z.string().regex(ATTRIBUTE_KEY, 'an attribute name is 1-128 of letters, digits and _.:/@-'),
      z
        .union([attributeValue, nonEmptyList(attributeValue)], {
          error: unionError('must be a string or a list of strings'),
        })
        .transform((v) => (typeof v === 'string' ? [v] : v)),
    )
    .optional(),
});

export const RuleSchema = z.strictObject({
  name: str('a string').regex(RULE_NAME, 'a rule name is 1-64 of a-z, 0-9, _ and -, starting with a letter or digit'),
  description: description.optional(),
  who: nonEmptyList(SubjectSchema),
  targets: nonEmptyList(str('a target name')),
  scopes: nonEmptyList(str('a scope pattern').min(1, 'must not be empty')).optional(),
  maxDuration: DurationSchema.optional(),
  approval: ApprovalSchema,
  when: WhenSchema.optional(),
  require: RequireSchema.optional(),
  pendingTimeout: DurationSchema.optional(),
  maxStartAhead: DurationSchema.optional(),
});

export const SettingsSchema = z.strictObject({
  maxDuration: DurationSchema.default(DEFAULT_SETTINGS.maxDuration),
  pendingTimeout: DurationSchema.default(DEFAULT_SETTINGS.pendingTimeout),
  maxStartAhead: DurationSchema.default(DEFAULT_SETTINGS.maxStartAhead),
  admins: z.array(SubjectSchema).optional(),
  auditors: z.array(SubjectSchema).optional(),
});

const VersionSchema = z.literal(1, {
  error: (iss) =>
    iss.input === undefined
      ? 'is required (version: 1)'
      : `must be the number 1 (this Timebox reads version 1), not ${describeValue(iss.input)}`,
});

const mapOf = <T extends z.ZodType>(key: z.ZodString, value: T) =>
  z.record(key, value, {
    error: (iss) =>
      iss.input === undefined ? undefined : `must be a map of name: value, not ${describeValue(iss.input)}`,
  });

const rulesList = <T extends z.ZodType>(item: T) =>
  z
    .array(item, {
      error: (iss) =>
        iss.input === undefined ? undefined : `must be a list of rules, not ${describeValue(iss.input)}`,
    })
    .min(1, 'must list at least one rule');

/**
 * The top level with its collections left unparsed: the loader parses each group, target and rule on its own,
 * so one bad rule does not hide the problems of the others or stop the cross-checks on the good ones.
 */
export const PolicyFileTopSchema = z.strictObject({
  version: VersionSchema,
  settings: z.unknown().optional(),
  groups: mapOf(z.string(), z.unknown()).optional(),
  targets: mapOf(z.string(), z.unknown()),
  rules: rulesList(z.unknown()),
});

/** The whole file in one schema (for tooling and documentation; the loader uses the parts above). */
export const PolicyFileSchema = z.strictObject({
  version: VersionSchema,
  settings: SettingsSchema.optional(),
  groups: mapOf(GroupNameSchema, GroupMembersSchema).optional(),
  targets: mapOf(TargetNameSchema, TargetSchema),
  rules: rulesList(RuleSchema),
});

export type RuleFile = z.output<typeof RuleSchema>;
export type TargetFile = z.output<typeof TargetSchema>;
export type SettingsFile = z.output<typeof SettingsSchema>;
